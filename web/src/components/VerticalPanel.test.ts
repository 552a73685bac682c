import { describe, expect, it, vi } from 'vitest'
import { setup } from '../testing/mount'
import VerticalPanel from './VerticalPanel.vue'

const METRICS = {
  auc: 0.912,
  loss: 0.21,
  intersection_size: 8000,
  train_rows: 6400,
  test_rows: 1600,
  parties: 3,
  embedding_noise: 0.3,
  gradient_noise: 0.5,
  embedding_epsilon: 4.2173,
  gradient_epsilon: 2.5,
  delta: 1e-5,
  label_holder_alone_auc: 0.83,
}

describe('VerticalPanel', () => {
  it('shows the intersection, both AUCs with their difference and the protection', () => {
    const fetch = vi.fn()
    const { mount } = setup(fetch)
    const wrapper = mount(VerticalPanel, { props: { metrics: METRICS } })
    const text = (id: string) => wrapper.find(`[data-testid=vertical-${id}]`).text()
    expect(text('intersection')).toBe('8,000')
    expect(text('trainRows')).toBe('6,400')
    expect(text('testRows')).toBe('1,600')
    expect(text('parties')).toBe('3')
    expect(text('auc')).toBe('0.912')
    expect(text('aloneAuc')).toContain('0.830')
    expect(text('gain')).toBe('+0.082')
    expect(text('embeddings')).toBe('noise 0.3 × clip norm; ε = 4.22 at δ = 0.00001')
    expect(text('gradients')).toBe('noise 0.5 × clip norm; ε = 2.50 at δ = 0.00001')
    expect(wrapper.text()).toContain("Difference (what the other parties' features added)")
    expect(text('crossed')).toContain('blinded PSI messages, then noised embeddings and gradients')
    expect(text('crossed')).toContain('Raw features and customer IDs stayed with each party; the coordinator holds no model.')
    expect(wrapper.find('.warning').exists()).toBe(false)
    expect(fetch).not.toHaveBeenCalled()
  })

  it('claims no guarantee without noise, and leaves out the label holder alone until the end', () => {
    const { mount } = setup(vi.fn())
    const { label_holder_alone_auc: _alone, embedding_epsilon: _e, gradient_epsilon: _g, ...running } = METRICS
    const wrapper = mount(VerticalPanel, { props: { metrics: { ...running, embedding_noise: 0, gradient_noise: 0 } } })
    expect(wrapper.find('[data-testid=vertical-aloneAuc]').exists()).toBe(false)
    expect(wrapper.find('[data-testid=vertical-gain]').exists()).toBe(false)
    expect(wrapper.find('[data-testid=vertical-embeddings]').text()).toBe('noise 0 × clip norm: no formal guarantee')
    expect(wrapper.find('[data-testid=vertical-gradients]').classes()).toContain('warning')
  })

  it('says the parties are still aligning before the first epoch', () => {
    const { mount } = setup(vi.fn())
    const wrapper = mount(VerticalPanel, { props: { metrics: {} } })
    expect(wrapper.text()).toContain('results appear here after the first epoch')
    expect(wrapper.find('dl').exists()).toBe(false)
    expect(wrapper.find('[data-testid=vertical-crossed]').exists()).toBe(true)
  })

  it('marks a vertical model worse than the label holder alone', () => {
    const { mount } = setup(vi.fn())
    const wrapper = mount(VerticalPanel, { props: { metrics: { ...METRICS, auc: 0.8 } } })
    const gain = wrapper.find('[data-testid=vertical-gain]')
    expect(gain.text()).toBe('-0.030')
    expect(gain.classes()).toContain('warning')
  })
})
