import { describe, expect, it } from 'vitest'
import { createConsoleI18n } from '../i18n'
import { aggregationOf, compressionOf, describeCompression, personalizeEpochs } from './jobSettings'

describe("a job's settings", () => {
  it('reads compression from the run config, with the coordinator defaults', () => {
    expect(compressionOf({})).toBeNull()
    expect(compressionOf({ 'compression.up': 'none', 'compression.down': 'none' })).toBeNull()
    expect(compressionOf({ 'compression.up': 'topk', 'compression.topk-fraction': 0.05, 'compression.down': 'q8' })).toEqual({
      up: 'topk',
      down: 'q8',
      topkFraction: 0.05,
      topkQ8: false,
      errorFeedback: true,
    })
    expect(compressionOf({ 'compression.up': 'q8', 'compression.error-feedback': 'false' })).toMatchObject({
      up: 'q8',
      down: 'none',
      errorFeedback: false,
    })
  })

  it('reads the aggregation, with secure-aggregation = true as SecAgg+', () => {
    expect(aggregationOf(null)).toBe('plain')
    expect(aggregationOf({ aggregation: 'plain' })).toBe('plain')
    expect(aggregationOf({ aggregation: 'HE-CKKS' })).toBe('he-ckks')
    expect(aggregationOf({ aggregation: 'secagg+' })).toBe('secagg+')
    expect(aggregationOf({ 'secure-aggregation': true })).toBe('secagg+')
    expect(aggregationOf({ 'secure-aggregation': 'false' })).toBe('plain')
  })

  it('reads personalize-epochs, 0 when absent or not a number', () => {
    expect(personalizeEpochs({ 'personalize-epochs': 2 })).toBe(2)
    expect(personalizeEpochs({ 'personalize-epochs': '3' })).toBe(3)
    expect(personalizeEpochs({ 'personalize-epochs': 'x' })).toBe(0)
    expect(personalizeEpochs(null)).toBe(0)
  })

  it('says the compression in one line, in either language', () => {
    const { t } = createConsoleI18n('en').global
    const topk = compressionOf({ 'compression.up': 'topk', 'compression.topk-fraction': 0.05, 'compression.down': 'q8' })
    expect(describeCompression(topk, t)).toBe('up: top-k 5% + error feedback; down: 8-bit')
    expect(describeCompression(compressionOf({ 'compression.down': 'q8' }), t)).toBe('up: uncompressed; down: 8-bit')
    expect(describeCompression(null, t)).toBe('none')
    const zh = createConsoleI18n('zh').global.t
    expect(describeCompression(topk, zh)).toBe('上行：top-k 5% + 误差反馈；下行：8 位量化')
  })
})
