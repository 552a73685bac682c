import { describe, expect, it } from 'vitest'
import { setup } from '../testing/mount'
import ProblemMessage from './ProblemMessage.vue'

describe('ProblemMessage', () => {
  it('shows the problem in place: title, status, detail and each invalid field', () => {
    const { mount } = setup(async () => new Response())
    const wrapper = mount(ProblemMessage, {
      props: {
        problem: {
          title: 'Unprocessable Content',
          status: 422,
          detail: 'the request does not fit the schema',
          errors: [{ loc: ['body', 'rounds'], msg: 'Input should be greater than or equal to 1' }],
        },
      },
    })
    expect(wrapper.attributes('role')).toBe('alert')
    const text = wrapper.text()
    expect(text).toContain('Unprocessable Content')
    expect(text).toContain('HTTP 422')
    expect(text).toContain('Field rounds: Input should be greater than or equal to 1')
  })

  it('tells what to do when the gateway does not answer', () => {
    const { mount } = setup(async () => new Response())
    const wrapper = mount(ProblemMessage, {
      props: { problem: { title: 'Gateway unreachable', status: 0, detail: 'Failed to fetch' } },
    })
    expect(wrapper.text()).toContain('make up')
  })

  it('renders nothing without a problem', () => {
    const { mount } = setup(async () => new Response())
    expect(mount(ProblemMessage, { props: { problem: null } }).html()).not.toContain('alert')
  })
})
