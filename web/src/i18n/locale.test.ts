import { describe, expect, it } from 'vitest'
import en from './en'
import { pickLocale } from './locale'
import zh from './zh'

function keys(value: object, prefix = ''): string[] {
  return Object.entries(value).flatMap(([key, child]) =>
    typeof child === 'object' && child !== null ? keys(child, `${prefix}${key}.`) : [`${prefix}${key}`],
  )
}

describe('pickLocale', () => {
  it('puts Chinese first when the browser prefers it', () => {
    expect(pickLocale(['zh-CN', 'en-US'], null, null)).toBe('zh')
    expect(pickLocale(['zh-TW'], null, null)).toBe('zh')
    expect(pickLocale(['fr-FR', 'en-GB', 'zh'], null, null)).toBe('en')
    expect(pickLocale(['de-DE'], null, null)).toBe('en')
  })

  it("lets the person's choice win, then the deployment's", () => {
    expect(pickLocale(['zh-CN'], null, 'en')).toBe('en')
    expect(pickLocale(['en-US'], 'zh', null)).toBe('zh')
    expect(pickLocale(['en-US'], 'zh', 'en')).toBe('en')
  })
})

describe('messages', () => {
  it('say the same things in both languages', () => {
    expect(keys(zh).sort()).toEqual(keys(en).sort())
  })
})
