/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The Go binary embeds web/dist (console/frontend/embed.go).
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'web/dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 2048,
  },
  server: {
    // `npm run dev` proxies the API to a console started with
    // `go run ./console/cmd/console --kubeconfig ...`.
    proxy: { '/api': 'http://127.0.0.1:8080' },
    // The contract fixtures shared with Go and the SDK (src/contract.test.ts).
    fs: { allow: ['.', '../../testdata/contract'] },
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    css: false,
    testTimeout: 20000,
  },
});
