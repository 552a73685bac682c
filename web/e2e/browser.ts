// Debian's Chromium through playwright-core, kept off the network: names resolve to nothing
// but 127.0.0.1, other addresses go to a dead proxy, and every request that leaves the
// gateway's origin is aborted and recorded.

import { chromium, type Browser, type Page } from 'playwright-core'

export function required(name: string): string {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: run these tests through tests/integration/test_console_browser.py`)
  return value
}

export interface Session {
  page: Page
  /** JavaScript errors, CSP refusals and console errors (network statuses aside) */
  errors: string[]
  /** requests to any origin but the gateway's, all aborted */
  offsite: string[]
  close: () => Promise<void>
}

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: required('CONSORTIUM_E2E_CHROMIUM'),
    headless: true,
    args: [
      `--ignore-certificate-errors-spki-list=${required('CONSORTIUM_E2E_SPKI')}`,
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      '--proxy-server=http://127.0.0.1:9',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-domain-reliability',
      '--disable-sync',
      '--no-first-run',
      '--no-pings',
    ],
  })
}

export async function open(browser: Browser, locale: string): Promise<Session> {
  const origin = new URL(required('CONSORTIUM_E2E_URL')).origin
  const context = await browser.newContext({
    locale,
    viewport: { width: 1360, height: 1000 },
    serviceWorkers: 'block',
  })
  const errors: string[] = []
  const offsite: string[] = []
  await context.route('**/*', (route) => {
    const url = route.request().url()
    if (new URL(url).origin === origin) return route.continue()
    offsite.push(url)
    return route.abort()
  })
  const page = await context.newPage()
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`))
  page.on('console', (message) => {
    // "Failed to load resource: ... 422" is the browser noting an API refusal the page handles
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      errors.push(`console: ${message.text()}`)
    }
  })
  return { page, errors, offsite, close: () => context.close() }
}

/** Every form control has an accessible name (a label, aria-label or aria-labelledby). */
export async function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea, button')]
      .filter((element) => {
        const control = element as HTMLInputElement
        if (control.type === 'hidden') return false
        const named =
          (control.labels?.length ?? 0) > 0 ||
          control.getAttribute('aria-label') ||
          control.getAttribute('aria-labelledby') ||
          (element.tagName === 'BUTTON' && element.textContent?.trim())
        return !named
      })
      .map((element) => element.outerHTML.slice(0, 120)),
  )
}

/** How many non-transparent pixels the page's first chart canvas has drawn. */
export async function chartInk(page: Page): Promise<number> {
  return page.evaluate(() => {
    const canvas = document.querySelector('[data-testid="metrics-chart"] canvas') as HTMLCanvasElement | null
    if (!canvas) return 0
    const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data
    let ink = 0
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) ink += 1
    return ink
  })
}
