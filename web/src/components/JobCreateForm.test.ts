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

  it('adds update compression and personalization to the run config only when chosen', async () => {
    const fetch = vi.fn(async (_url: string, init?: RequestInit) => json({ id: 'j2', ...JSON.parse(String(init!.body)) }, 201))
    const { mount } = setup(fetch)
    const wrapper = mount(JobCreateForm)
    const config = () => (wrapper.vm as unknown as { request: { config: Record<string, unknown> } }).request.config
    expect(config()).toEqual({})
    expect(wrapper.find('input[name=compression_topk_fraction]').exists()).toBe(false)
    await wrapper.find('select[name=compression_up]').setValue('topk')
    await wrapper.find('input[name=compression_topk_fraction]').setValue('0.05')
    await wrapper.find('select[name=compression_down]').setValue('q8')
    await wrapper.find('input[name=personalize_epochs]').setValue('2')
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    expect(JSON.parse(String(fetch.mock.calls[0][1]!.body)).config).toEqual({
      'compression.up': 'topk',
      'compression.topk-fraction': 0.05,
      'compression.down': 'q8',
      'personalize-epochs': 2,
    })
    // the fraction belongs to top-k only: the coordinator refuses it with another codec
    await wrapper.find('select[name=compression_up]').setValue('q8')
    expect(config()).toEqual({ 'compression.up': 'q8', 'compression.down': 'q8', 'personalize-epochs': 2 })
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

  it('labels every control', async () => {
    const { mount } = setup(async () => json({}))
    const wrapper = mount(JobCreateForm, { attachTo: document.body })
    const labelled = () => {
      for (const control of wrapper.findAll('input, select')) {
        const element = control.element as HTMLInputElement
        expect(element.labels?.length, element.outerHTML).toBeGreaterThan(0)
      }
    }
    labelled()
    await wrapper.find('input[name=dp]').setValue(true)
    await wrapper.find('select[name=compression_up]').setValue('topk')
    labelled()
    wrapper.unmount()
  })
})
