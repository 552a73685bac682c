import { describe, expect, it } from 'vitest'
import { setup } from '../testing/mount'
import PrivacyPanel from './PrivacyPanel.vue'

const REPORT = {
  v: 1,
  job_id: 'j1',
  status: 'completed',
  dp: false,
  mechanism: null,
  accountant: 'prv',
  delta: null,
  epsilon_max: null,
  aggregation: 'he-ckks',
  server_saw: 'only CKKS ciphertexts: each update and the global model stayed encrypted under a key that only participants hold',
  secure_aggregation: false,
  secure_aggregation_settings: null,
  homomorphic_settings: { poly_modulus_degree: 8192, scale_bits: 40, rekey_on_leave: true },
  how_to_recompute: '',
}

describe('PrivacyPanel', () => {
  it('says how updates were aggregated and what the coordinator saw', () => {
    const { mount } = setup(async () => new Response())
    const wrapper = mount(PrivacyPanel, { props: { report: REPORT, problem: null } })
    expect(wrapper.find('[data-testid=privacy-aggregation]').text()).toBe('Homomorphic encryption (CKKS)')
    expect(wrapper.find('[data-testid=server-saw]').text()).toBe(REPORT.server_saw)
    expect(wrapper.text()).toContain('Secure aggregation')
  })

  it("names SecAgg+, and shows an aggregation it does not know by the report's word", async () => {
    const { mount } = setup(async () => new Response())
    const wrapper = mount(PrivacyPanel, {
      props: { report: { ...REPORT, aggregation: 'secagg+', secure_aggregation: true, homomorphic_settings: null }, problem: null },
    })
    expect(wrapper.find('[data-testid=privacy-aggregation]').text()).toBe('SecAgg+')
    expect(wrapper.text()).toContain('on: the server saw only sums of updates')
    await wrapper.setProps({ report: { ...REPORT, aggregation: 'future-mode' } })
    expect(wrapper.find('[data-testid=privacy-aggregation]').text()).toBe('future-mode')
  })
})
