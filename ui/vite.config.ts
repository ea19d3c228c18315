import { defineConfig } from 'vite';

// The window is served by Tauri from ui/dist (frontendDist) under a strict CSP
// (`script-src 'self'`): relative asset paths, no inline scripts, no remote assets.
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // No `data:` URLs for small assets: everything is a file the CSP allows as 'self'.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
