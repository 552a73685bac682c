import { flushPromises } from '@vue/test-utils'
import { describe, expect, it, vi } from 'vitest'
import { json, problem, setup } from '../testing/mount'
import JobCreateForm from './JobCreateForm.vue'

describe('JobCreateForm', () => {
  it('posts the job with DP-SGD, its budget and SecAgg+ as run config', async () => {
    const fetch = vi.fn(async (_url: string, init?: RequestInit) => json({ id: 'j1', ...JSON.parse(String(init!.body)) }, 201))
    const { mount } = setup(fetch)
    const wrapper = mount(JobCreateForm)
    await wrapper.find('input[name=name]').setValue('trial')
    await wrapper.find('input[name=rounds]').setValue('7')
    await wrapper.find('input[name=min_participants]').setValue('3')
    await wrapper.find('input[name=dp]').setValue(true)
    await wrapper.find('input[name=dp_target_epsilon]').setValue('4')
    await wrapper.find('input[name=privacy_budget_epsilon]').setValue('6')
    await wrapper.find('input[name=secure_aggregation]').setValue(true)
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    const [url, init] = fetch.mock.calls[0]
    expect(url).toBe('/api/v1/jobs')
    expect(JSON.parse(String(init!.body))).toEqual({
      name: 'trial',
      task: 'digits-cnn',
      strategy: 'FedAvg',
      rounds: 7,
      min_participants: 3,
      config: {
        'dp-target-epsilon': 4,
        'dp-delta': 1e-5,
        'dp-accountant': 'prv',
        'privacy-budget-epsilon': 6,
        'secure-aggregation': true,
      },
    })
    expect(wrapper.emitted('created')?.[0][0]).toMatchObject({ id: 'j1' })
  })

  it('keeps the form and shows the refusal when the coordinator says no', async () => {
    const { mount } = setup(async () => problem(422, 'Invalid job', 'secure aggregation runs with strategy FedAvg only'))
    const wrapper = mount(JobCreateForm)
    await wrapper.find('select[name=strategy]').setValue('Krum')
    await wrapper.find('input[name=secure_aggregation]').setValue(true)
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    expect(wrapper.find('[role=alert]').text()).toContain('strategy FedAvg only')
    expect(wrapper.emitted('created')).toBeUndefined()
    expect((wrapper.find('select[name=strategy]').element as HTMLSelectElement).value).toBe('Krum')
  })

  it('labels every control', () => {
    const { mount } = setup(async () => json({}))
    const wrapper = mount(JobCreateForm, { attachTo: document.body })
    for (const control of wrapper.findAll('input, select')) {
      const element = control.element as HTMLInputElement
      expect(element.labels?.length, element.outerHTML).toBeGreaterThan(0)
    }
    wrapper.unmount()
  })
})
