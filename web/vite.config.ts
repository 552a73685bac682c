import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// One build for every environment: what differs between them (the API's address, the
// tasks offered in the job form) is read at run time from `config.json` (see src/config.ts).
export default defineConfig({
  plugins: [vue()],
  define: {
    __VUE_OPTIONS_API__: false,
    __VUE_PROD_DEVTOOLS__: false,
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: false,
    __VUE_I18N_FULL_INSTALL__: false,
    __VUE_I18N_LEGACY_API__: false,
    __INTLIFY_PROD_DEVTOOLS__: false,
  },
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 700 },
  server: {
    // `npm run dev` against a running platform (`make up`): the gateway serves /api.
    proxy: {
      '/api': { target: process.env.CONSORTIUM_GATEWAY_URL ?? 'https://127.0.0.1:8443', secure: false },
    },
  },
})
