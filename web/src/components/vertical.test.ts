import { describe, expect, it } from 'vitest'
import { isVerticalJob, shortNumber, signedAuc, verticalRows } from './vertical'

const FINAL = {
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

describe('vertical jobs', () => {
  it('are told apart by their task, their participants’ task or a PSI intersection', () => {
    expect(isVerticalJob({ task: 'fraud-vertical', client_task: '', metrics: {} })).toBe(true)
    expect(isVerticalJob({ task: 'app.server:app', client_task: 'fraud-vertical', metrics: {} })).toBe(true)
    expect(isVerticalJob({ task: 'custom:app', client_task: '', metrics: { intersection_size: 12 } })).toBe(true)
    expect(isVerticalJob({ task: 'digits-cnn', client_task: 'digits-cnn', metrics: { accuracy: 0.9 } })).toBe(false)
    expect(isVerticalJob(null)).toBe(false)
  })

  it('turn their metrics into the panel rows, in order, with the difference to the label holder alone', () => {
    const rows = verticalRows(FINAL)
    expect(rows.map((row) => row.id)).toEqual([
      'intersection',
      'trainRows',
      'testRows',
      'parties',
      'auc',
      'aloneAuc',
      'gain',
      'embeddings',
      'gradients',
    ])
    expect(rows[0]).toEqual({ id: 'intersection', kind: 'count', value: 8000 })
    const gain = rows.find((row) => row.id === 'gain')!
    expect(gain.kind).toBe('gain')
    expect((gain as { value: number }).value).toBeCloseTo(0.082, 6)
    expect(rows.at(-2)).toEqual({ id: 'embeddings', kind: 'protection', noise: 0.3, epsilon: 4.2173, delta: 1e-5, guarantee: true })
    expect(rows.at(-1)).toMatchObject({ id: 'gradients', noise: 0.5, epsilon: 2.5, guarantee: true })
  })

  it('leave out what is not reported yet, and claim no guarantee without noise or epsilon', () => {
    expect(verticalRows({})).toEqual([])
    expect(verticalRows(null)).toEqual([])
    const rows = verticalRows({ intersection_size: 50, auc: 'NaN', embedding_noise: 0, gradient_noise: 0.3, delta: 1e-5 })
    expect(rows.map((row) => row.id)).toEqual(['intersection', 'embeddings', 'gradients'])
    expect(rows[1]).toMatchObject({ noise: 0, epsilon: null, guarantee: false })
    // noise without an epsilon (not computed) is no guarantee either
    expect(rows[2]).toMatchObject({ noise: 0.3, epsilon: null, guarantee: false })
    // an epsilon with zero noise cannot be a guarantee
    expect(verticalRows({ embedding_noise: 0, embedding_epsilon: 3, delta: 1e-5 })[0]).toMatchObject({ guarantee: false })
  })

  it('format numbers as people read them', () => {
    expect(shortNumber(0.3)).toBe('0.3')
    expect(shortNumber(1e-5)).toBe('0.00001')
    expect(shortNumber(0.123456)).toBe('0.123')
    expect(signedAuc(0.0834)).toBe('+0.083')
    expect(signedAuc(-0.01)).toBe('-0.010')
    expect(signedAuc(-0.0001)).toBe('0.000')
    expect(signedAuc(0)).toBe('0.000')
  })
})
