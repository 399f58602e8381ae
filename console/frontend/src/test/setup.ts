import '@testing-library/jest-dom/vitest';
import { afterEach, vi } from 'vitest';
import { cleanup } from '@testing-library/react';

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
  sessionStorage.clear();
  localStorage.clear();
});

// jsdom lacks these browser APIs that PatternFly's components use.
if (!window.matchMedia) {
  window.matchMedia = (query: string) =>
    ({
      matches: false,
      media: query,
      onchange: null,
      addListener: () => {},
      removeListener: () => {},
      addEventListener: () => {},
      removeEventListener: () => {},
      dispatchEvent: () => false,
    }) as MediaQueryList;
}
class NoopObserver {
  observe() {}
  unobserve() {}
  disconnect() {}
}
(window as unknown as { ResizeObserver: unknown }).ResizeObserver ??= NoopObserver;
(window as unknown as { IntersectionObserver: unknown }).IntersectionObserver ??= NoopObserver;

// PatternFly's LogViewer measures characters on a canvas, which jsdom
// does not draw.
HTMLCanvasElement.prototype.getContext = (() => ({ font: '', measureText: (s: string) => ({ width: s.length * 8 }) })) as never;
