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

  it('offers homomorphic encryption, alone and only with what it runs with', async () => {
    const fetch = vi.fn(async (_url: string, init?: RequestInit) => json({ id: 'j4', ...JSON.parse(String(init!.body)) }, 201))
    const { mount } = setup(fetch, { config: { strategies: ['FedAvg', 'FedProx', 'Krum'] } })
    const wrapper = mount(JobCreateForm, { attachTo: document.body })
    const aggregation = wrapper.find('select[name=aggregation]')
    const secagg = wrapper.find('input[name=secure_aggregation]').element as HTMLInputElement
    const options = aggregation.findAll('option').map((option) => [option.attributes('value'), option.text()])
    expect(options).toEqual([
      ['plain', 'Plain'],
      ['secagg+', 'SecAgg+'],
      ['he-ckks', 'Homomorphic encryption (CKKS)'],
    ])
    // the SecAgg+ checkbox and the select say the same thing
    await wrapper.find('input[name=secure_aggregation]').setValue(true)
    expect((aggregation.element as HTMLSelectElement).value).toBe('secagg+')
    // choices that he-ckks cannot run with are cleared, and SecAgg+ is no longer checked
    await wrapper.find('select[name=strategy]').setValue('Krum')
    await wrapper.find('select[name=compression_up]').setValue('q8')
    await wrapper.find('select[name=compression_down]').setValue('q8')
    await aggregation.setValue('he-ckks')
    expect(secagg.checked).toBe(false)
    expect(wrapper.findAll('select[name=strategy] option').map((option) => option.text())).toEqual(['FedAvg', 'FedProx'])
    for (const name of ['compression_up', 'compression_down']) {
      const select = wrapper.find(`select[name=${name}]`).element as HTMLSelectElement
      expect([select.value, select.disabled], name).toEqual(['none', true])
    }
    await wrapper.find('select[name=strategy]').setValue('FedProx')
    await wrapper.find('input[name=dp]').setValue(true)
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    const body = JSON.parse(String(fetch.mock.calls[0][1]!.body))
    expect(body.strategy).toBe('FedProx')
    expect(body.config).toEqual({ 'dp-target-epsilon': 8, 'dp-delta': 1e-5, 'dp-accountant': 'prv', aggregation: 'he-ckks' })
    // checking SecAgg+ again leaves he-ckks and gives the other choices back
    await wrapper.find('input[name=secure_aggregation]').setValue(true)
    expect((aggregation.element as HTMLSelectElement).value).toBe('secagg+')
    expect((wrapper.find('select[name=compression_up]').element as HTMLSelectElement).disabled).toBe(false)
    expect(wrapper.findAll('select[name=strategy] option')).toHaveLength(3)
    const config = (wrapper.vm as unknown as { request: { config: Record<string, unknown> } }).request.config
    expect(config).toMatchObject({ 'secure-aggregation': true })
    expect(config).not.toHaveProperty('aggregation')
    wrapper.unmount()
  })

  it('asks a vertical task for epochs, noise, batch size and learning rate only', async () => {
    const fetch = vi.fn(async (_url: string, init?: RequestInit) => json({ id: 'j3', ...JSON.parse(String(init!.body)) }, 201))
    const { mount } = setup(fetch, { config: { tasks: ['digits-cnn', 'fraud-vertical'] } })
    const wrapper = mount(JobCreateForm, { attachTo: document.body })
    // horizontal choices made before switching do not travel with a vertical job
    await wrapper.find('select[name=strategy]').setValue('Krum')
    await wrapper.find('input[name=dp]').setValue(true)
    await wrapper.find('input[name=secure_aggregation]').setValue(true)
    await wrapper.find('input[name=personalize_epochs]').setValue('2')
    expect(wrapper.find('[data-testid=vertical-settings]').exists()).toBe(false)
    await wrapper.find('input[name=task]').setValue('fraud-vertical')
    for (const name of ['strategy', 'dp', 'secure_aggregation', 'compression_up', 'compression_down', 'personalize_epochs']) {
      expect(wrapper.find(`[name=${name}]`).exists(), name).toBe(false)
    }
    const rounds = wrapper.find('input[name=rounds]').element as HTMLInputElement
    expect(rounds.labels?.[0].textContent).toContain('Epochs')
    for (const control of wrapper.findAll('[data-testid=vertical-settings] input')) {
      expect((control.element as HTMLInputElement).labels?.length).toBeGreaterThan(0)
    }
    await wrapper.find('input[name=rounds]').setValue('4')
    await wrapper.find('input[name=embedding_noise]').setValue('0.5')
    await wrapper.find('input[name=gradient_noise]').setValue('0')
    await wrapper.find('input[name=learning_rate]').setValue('0.1')
    await wrapper.find('form').trigger('submit')
    await flushPromises()
    expect(JSON.parse(String(fetch.mock.calls[0][1]!.body))).toEqual({
      name: '',
      task: 'fraud-vertical',
      strategy: 'FedAvg',
      rounds: 4,
      min_participants: 2,
      config: { 'embedding-noise': 0.5, 'gradient-noise': 0, 'batch-size': 256, 'learning-rate': 0.1 },
    })
    // back to a horizontal task: its fields return as they were left
    await wrapper.find('input[name=task]').setValue('digits-cnn')
    expect(wrapper.find('[data-testid=vertical-settings]').exists()).toBe(false)
    expect((wrapper.find('select[name=strategy]').element as HTMLSelectElement).value).toBe('Krum')
    expect(rounds.labels?.[0].textContent).toContain('Rounds')
    wrapper.unmount()
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
