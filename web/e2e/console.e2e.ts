// The console against a running platform (see tests/integration/test_console_browser.py):
// sign in by keyboard, create a job, watch the chart gain points as rounds finish, see an API
// refusal in place, manage participants, verify the audit chain, and read it all in Chinese.

import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chartInk, launch, open, required, unlabelledControls, type Session } from './browser'

const URL = required('CONSORTIUM_E2E_URL')
const USERNAME = required('CONSORTIUM_E2E_USERNAME')
const PASSWORD = required('CONSORTIUM_E2E_PASSWORD')
const SHOTS = required('CONSORTIUM_E2E_SCREENSHOTS')
const PARTICIPANTS = Number(required('CONSORTIUM_E2E_PARTICIPANTS'))
const ROUNDS = 4
/** round 0 is the initial model's evaluation, before any training */
const POINTS = ROUNDS + 1

let browser: Browser
const sessions: Session[] = []
let jobId = ''

async function session(locale: string): Promise<Session> {
  const opened = await open(browser, locale)
  sessions.push(opened)
  return opened
}

/** Keyboard only: the username field has focus, Tab reaches the password, Enter submits. */
async function signIn({ page }: Session, usernameLabel: string): Promise<void> {
  await page.goto(URL)
  await page.getByLabel(usernameLabel).waitFor()
  expect(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name)).toBe('username')
  await page.keyboard.type(USERNAME)
  await page.keyboard.press('Tab')
  await page.keyboard.type(PASSWORD)
  await page.keyboard.press('Enter')
  await page.waitForURL('**/jobs')
}

beforeAll(async () => {
  browser = await launch()
})

afterAll(async () => {
  for (const opened of sessions) await opened.close()
  await browser?.close()
})

describe('the console in English', () => {
  it('signs in, creates a job and draws each round as it finishes', async () => {
    const en = await session('en-US')
    const { page } = en
    await signIn(en, 'Username')
    await page.getByTestId('jobs-table').or(page.getByText('No jobs yet.')).first().waitFor()
    expect(await unlabelledControls(page)).toEqual([])

    await page.getByLabel('Name', { exact: true }).fill('console e2e')
    await page.getByLabel('Task').fill('digits-cnn')
    await page.getByLabel('Strategy').selectOption('FedAvg')
    await page.getByLabel('Rounds').fill(String(ROUNDS))
    await page.getByLabel('Minimum participants').fill(String(PARTICIPANTS))
    await page.getByRole('button', { name: 'Create job' }).click()
    await page.waitForURL(/\/jobs\/[^/]+$/)
    jobId = decodeURIComponent(new globalThis.URL(page.url()).pathname.split('/').pop()!)

    // Poll what the page shows: the chart must grow while the job runs, not only at the end.
    const seen: number[] = []
    let liveShot = false
    const deadline = Date.now() + 180_000
    for (;;) {
      const points = Number(await page.getByTestId('metrics-chart').getAttribute('data-points'))
      const status = await page.locator('header .badge').getAttribute('data-status')
      if (seen.at(-1) !== points) seen.push(points)
      if (!liveShot && points >= 2 && status === 'running') {
        await page.screenshot({ path: join(SHOTS, 'job-live.png'), fullPage: true })
        liveShot = true
      }
      if (status === 'completed' || status === 'failed' || status === 'stopped') {
        expect(status).toBe('completed')
        break
      }
      if (Date.now() > deadline) throw new Error(`job did not finish; chart points seen: ${seen}`)
      await page.waitForTimeout(100)
    }
    await page.getByTestId('metrics-chart').and(page.locator(`[data-points="${POINTS}"]`)).waitFor()
    const growth = seen.filter((points, i) => i > 0 && points > seen[i - 1]).length
    expect(growth, `chart points seen over time: ${seen}`).toBeGreaterThanOrEqual(2)
    expect(liveShot, `no screenshot while running; points seen: ${seen}`).toBe(true)
    expect(await page.getByTestId('live-state').getAttribute('data-state')).toBe('ended')
    expect(await chartInk(page)).toBeGreaterThan(1000)

    // The other panels: participants with their samples, rounds, privacy, audit, contributions.
    await expect.poll(() => page.getByTestId('job-participants').locator('tbody tr').count()).toBe(PARTICIPANTS)
    const samples = await page.getByTestId('job-participants').locator('tbody tr td:nth-child(3)').allTextContents()
    expect(samples.every((text) => Number(text) > 0), `samples: ${samples}`).toBe(true)
    expect(await page.getByTestId('rounds-table').locator('tbody tr').count()).toBe(POINTS)
    await expect.poll(() => page.getByTestId('privacy').textContent()).toContain('without differential privacy')
    await expect.poll(() => page.getByTestId('job-audit').textContent()).toContain('job_created')
    // the contribution service scored every round (GTG by default for a job without SecAgg+)
    await expect
      .poll(() => page.getByTestId('contributions-table').locator('tbody tr').count(), { timeout: 30_000 })
      .toBe(PARTICIPANTS)
    await expect.poll(() => page.getByTestId('contributions').textContent()).toContain(`${ROUNDS} rounds scored`)
    expect(await unlabelledControls(page)).toEqual([])
    await page.screenshot({ path: join(SHOTS, 'job-completed.png'), fullPage: true })
    expect(en.errors).toEqual([])
  })

  it('shows the API refusal in place when a job asks for something impossible', async () => {
    const en = await session('en-US')
    const { page } = en
    await signIn(en, 'Username')
    await page.getByLabel('Task').fill('digits-cnn')
    await page.getByLabel('Strategy').selectOption('Krum')
    await page.getByLabel(/Secure aggregation/).check()
    await page.getByRole('button', { name: 'Create job' }).click()
    const problem = page.getByTestId('problem')
    await problem.waitFor()
    expect(await problem.textContent()).toContain('strategy FedAvg only')
    expect(await problem.getAttribute('role')).toBe('alert')
    expect(page.url()).toMatch(/\/jobs$/)
    await page.screenshot({ path: join(SHOTS, 'job-refused.png'), fullPage: true })
    expect(en.errors).toEqual([])
  })

  it('registers a participant, issues its token and verifies the audit chain', async () => {
    const en = await session('en-US')
    const { page } = en
    await signIn(en, 'Username')
    await page.getByRole('link', { name: 'Participants' }).click()
    await page.getByTestId('participants-table').waitFor()
    await expect.poll(() => page.getByTestId('participants-table').textContent()).toContain('hospital-1')
    expect(await unlabelledControls(page)).toEqual([])
    await page.getByLabel('Participant ID (its certificate name)').fill('e2e-clinic')
    await page.getByLabel('Organisation').fill('E2E Clinic')
    await page.getByRole('button', { name: 'Register' }).click()
    const row = page.getByTestId('participants-table').locator('tr', { hasText: 'e2e-clinic' })
    await row.waitFor()
    await row.getByRole('button', { name: 'Issue enrollment token' }).click()
    await page.getByTestId('token-issued').waitFor()
    expect((await page.getByTestId('token').inputValue()).length).toBeGreaterThan(20)
    await page.screenshot({ path: join(SHOTS, 'participants.png'), fullPage: true })

    // revocation asks for a reason, then the row says revoked with it
    await row.getByRole('button', { name: 'Revoke' }).click()
    await row.getByLabel('Reason for revoking e2e-clinic').fill('left the study')
    await row.getByRole('button', { name: 'Revoke e2e-clinic' }).click()
    await page.getByText('e2e-clinic revoked').waitFor()
    await expect.poll(() => row.locator('[data-status]').first().getAttribute('data-status')).toBe('revoked')
    expect(await row.textContent()).toContain('left the study')

    await page.getByRole('link', { name: 'Audit log' }).click()
    await page.getByTestId('audit-table').locator('tbody tr').first().waitFor()
    await page.getByTestId('verify').click()
    await expect.poll(() => page.getByTestId('verification').textContent()).toMatch(/The chain holds: \d+ entries checked/)
    await page.screenshot({ path: join(SHOTS, 'audit.png') })
    expect(en.errors).toEqual([])
  })
})

describe('the console in Chinese', () => {
  it('follows a browser that prefers Chinese and switches to English on request', async () => {
    expect(jobId, 'the English test created the job').not.toBe('')
    const zh = await session('zh-CN')
    const { page } = zh
    await signIn(zh, '用户名')
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('任务')
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN')
    await page.goto(`${URL.replace(/\/$/, '')}/jobs/${encodeURIComponent(jobId)}`)
    await page.getByTestId('metrics-chart').and(page.locator(`[data-points="${POINTS}"]`)).waitFor()
    await page.getByText('全局模型各轮表现').waitFor()
    await page.getByText('已完成').first().waitFor()
    expect(await chartInk(page)).toBeGreaterThan(1000)
    await page.screenshot({ path: join(SHOTS, 'job-zh.png'), fullPage: true })

    await page.getByLabel('语言').selectOption('en')
    await page.getByText('Global model by round').waitFor()
    expect(zh.errors).toEqual([])
  })

  it('never left the gateway origin', () => {
    expect(sessions.flatMap((opened) => opened.offsite)).toEqual([])
  })
})
