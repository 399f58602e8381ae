import { vi } from 'vitest';

export interface Call {
  method: string;
  url: string;
  body?: unknown;
}

type Handler = (call: Call) => { status?: number; json?: unknown; text?: string } | undefined;

// mockFetch answers fetch calls with the first handler that returns a
// response, and records every call.
export function mockFetch(handler: Handler): Call[] {
  const calls: Call[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
      const call: Call = {
        method: init?.method ?? 'GET',
        url: String(input),
        body: init?.body ? JSON.parse(String(init.body)) : undefined,
      };
      calls.push(call);
      const r = handler(call) ?? { status: 404, json: { error: `no mock for ${call.method} ${call.url}`, reason: 'NotFound' } };
      const text = r.text ?? JSON.stringify(r.json);
      return new Response(text, { status: r.status ?? 200, headers: { 'Content-Type': r.text !== undefined ? 'text/plain' : 'application/json' } });
    }),
  );
  return calls;
}
