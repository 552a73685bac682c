import { flushPromises } from '@vue/test-utils'
import { describe, expect, it, vi } from 'vitest'
import { json, problem, setup } from '../testing/mount'
import JobPage from './JobPage.vue'

// the charts draw on a canvas jsdom does not have
vi.mock('../components/MetricsChart.vue', () => ({ default: { name: 'MetricsChart', render: () => null } }))
vi.mock('../components/BytesChart.vue', () => ({ default: { name: 'BytesChart', render: () => null } }))

const JOB = {
  id: 'j1',
  name: 'fraud',
  status: 'completed',
  task: 'digits-cnn',
  client_task: 'digits-cnn',
  strategy: 'FedAvg',
  rounds: 2,
  current_round: 2,
  min_participants: 2,
  participants: ['bank', 'shop'],
  reason: '',
  run_config: { 'personalize-epochs': 1 },
  metrics: {},
  created_at: '2024-01-01T00:00:00Z',
  started_at: '2024-01-01T00:00:01Z',
  finished_at: '2024-01-01T00:01:00Z',
}

const round = (number: number, metrics: Record<string, number>) => ({
  number,
  metrics,
  duration_s: 1,
  bytes_sent: 10,
  bytes_received: 10,
  participants: ['bank', 'shop'],
  failures: {},
  checkpoint: null,
  checkpoint_sha256: null,
})

function mountJob(job: object, rounds: object[]) {
  const fetch = vi.fn(async (url: string) => {
    if (url.endsWith('/jobs/j1')) return json(job)
    if (url.endsWith('/jobs/j1/rounds')) return json(rounds)
    return problem(404, 'Not Found')
  })
  const { mount } = setup(fetch)
  return { fetch, wrapper: mount(JobPage, { props: { id: 'j1' } }) }
}

describe('JobPage', () => {
  it('shows a vertical job its own panel, without the horizontal panels or a model to download', async () => {
    const { fetch, wrapper } = mountJob({ ...JOB, task: 'fraud-vertical', client_task: 'fraud-vertical' }, [
      round(1, { auc: 0.88, intersection_size: 800, embedding_noise: 0.3, gradient_noise: 0.3, delta: 1e-5 }),
      round(2, { auc: 0.9, intersection_size: 800, label_holder_alone_auc: 0.85, embedding_noise: 0.3, gradient_noise: 0.3, delta: 1e-5 }),
    ])
    await flushPromises()
    expect(wrapper.find('[data-testid=vertical]').exists()).toBe(true)
    expect(wrapper.find('[data-testid=vertical-gain]').text()).toBe('+0.050')
    for (const panel of ['privacy', 'personalization', 'contributions']) {
      expect(wrapper.find(`[data-testid=${panel}]`).exists(), panel).toBe(false)
    }
    expect(wrapper.text()).not.toContain('Download final model')
    expect(wrapper.find('[data-testid=compression]').exists()).toBe(false) // no strategy either
    expect(fetch.mock.calls.some(([url]) => url.includes('/contributions') || url.includes('/personalization'))).toBe(false)
  })

  it('keeps the horizontal panels and the download for any other job', async () => {
    const { wrapper } = mountJob(JOB, [round(1, { accuracy: 0.9 })])
    await flushPromises()
    expect(wrapper.find('[data-testid=vertical]').exists()).toBe(false)
    expect(wrapper.find('[data-testid=privacy]').exists()).toBe(true)
    expect(wrapper.find('[data-testid=personalization]').exists()).toBe(true)
    expect(wrapper.text()).toContain('Download final model')
    expect(wrapper.find('[data-testid=compression]').exists()).toBe(true)
    expect(wrapper.find('[data-testid=aggregation-notice]').exists()).toBe(false) // plain
  })

  it('says first that the coordinator saw only ciphertexts of a homomorphic-encryption job', async () => {
    const { wrapper } = mountJob({ ...JOB, run_config: { aggregation: 'he-ckks' } }, [round(1, { accuracy: 0.9 })])
    await flushPromises()
    const notice = wrapper.find('[data-testid=aggregation-notice]')
    expect(notice.attributes('data-aggregation')).toBe('he-ckks')
    expect(notice.text()).toContain('the coordinator saw only ciphertexts')
    expect(notice.text()).toContain('only participants hold the key')
    expect(notice.text()).toContain('checkpoints it stores')
    // near the top: before the overview and every panel
    const html = wrapper.html()
    expect(html.indexOf('aggregation-notice')).toBeLessThan(html.indexOf('overview-title'))
  })

  it('says that the coordinator saw only sums of a SecAgg+ job, however it was asked for', async () => {
    for (const run_config of [{ 'secure-aggregation': true }, { aggregation: 'secagg+' }]) {
      const { wrapper } = mountJob({ ...JOB, run_config }, [])
      await flushPromises()
      const notice = wrapper.find('[data-testid=aggregation-notice]')
      expect(notice.attributes('data-aggregation')).toBe('secagg+')
      expect(notice.text()).toContain("only the sum of the participants' masked updates")
      wrapper.unmount()
    }
  })
})
