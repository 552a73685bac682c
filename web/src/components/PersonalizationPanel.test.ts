import { flushPromises } from '@vue/test-utils'
import { describe, expect, it, vi } from 'vitest'
import { json, problem, setup } from '../testing/mount'
import PersonalizationPanel from './PersonalizationPanel.vue'

const REPORT = {
  job_id: 'j1',
  available: true,
  reason: '',
  epochs: 2,
  participants: {
    'hospital-b': { global_accuracy: 0.8, personalized_accuracy: 0.7, gain: -0.1, test_examples: 30 },
    'hospital-a': { global_accuracy: 0.6, personalized_accuracy: 0.9, gain: 0.3, test_examples: 50 },
  },
  mean_global_accuracy: 0.7,
  mean_personalized_accuracy: 0.8,
}

describe('PersonalizationPanel', () => {
  it('reads the report once the job is final and shows each gain', async () => {
    const fetch = vi.fn(async (_url: string) => json(REPORT))
    const { mount } = setup(fetch)
    const wrapper = mount(PersonalizationPanel, { props: { jobId: 'j1', epochs: 2, final: false } })
    await flushPromises()
    expect(fetch).not.toHaveBeenCalled()
    expect(wrapper.text()).toContain('fine-tunes the final model for 2 epoch(s)')
    await wrapper.setProps({ final: true })
    await flushPromises()
    expect(fetch.mock.calls[0][0]).toBe('/api/v1/jobs/j1/personalization')
    const rows = wrapper.findAll('[data-testid=personalization-table] tbody tr').map((row) => row.text())
    expect(rows).toHaveLength(2)
    expect(rows[0]).toMatch(/^hospital-a\s*60%\s*90%\s*\+30\.0 pp\s*50$/)
    expect(rows[1]).toContain('-10.0 pp')
    expect(wrapper.find('tfoot').text()).toContain('+10.0 pp')
  })

  it("says when the job did not ask, and the coordinator's reason when there is nothing", async () => {
    const fetch = vi.fn(async () => json({ ...REPORT, available: false, participants: {}, reason: 'no participant reported' }))
    const { mount } = setup(fetch)
    const notAsked = mount(PersonalizationPanel, { props: { jobId: 'j1', epochs: 0, final: true } })
    await flushPromises()
    expect(notAsked.text()).toContain('did not ask for personalization')
    expect(fetch).not.toHaveBeenCalled()
    const empty = mount(PersonalizationPanel, { props: { jobId: 'j1', epochs: 2, final: true } })
    await flushPromises()
    expect(empty.text()).toContain('no participant reported')
    expect(empty.find('table').exists()).toBe(false)
  })

  it('shows a failed read as a problem with a retry', async () => {
    const { mount } = setup(async () => problem(503, 'Service Unavailable', 'the coordinator is down'))
    const wrapper = mount(PersonalizationPanel, { props: { jobId: 'j1', epochs: 1, final: true } })
    await flushPromises()
    expect(wrapper.find('[role=alert]').text()).toContain('the coordinator is down')
  })
})
