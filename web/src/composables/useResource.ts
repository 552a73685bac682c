// Data loaded from the API, with its loading state and, when it failed, the problem to show.

import { onScopeDispose, ref, shallowRef, type Ref, type ShallowRef } from 'vue'
import { asProblem, type Problem } from '../api/problem'

export interface Resource<T> {
  data: ShallowRef<T | null>
  problem: Ref<Problem | null>
  loading: Ref<boolean>
  reload: () => Promise<void>
}

export function useResource<T>(
  loader: () => Promise<T>,
  options: { immediate?: boolean; pollMs?: number } = {},
): Resource<T> {
  const data = shallowRef<T | null>(null)
  const problem = ref<Problem | null>(null)
  const loading = ref(false)
  let generation = 0

  async function reload(): Promise<void> {
    const mine = ++generation
    loading.value = true
    try {
      const value = await loader()
      if (mine !== generation) return // a newer load started: its answer wins
      data.value = value
      problem.value = null
    } catch (error) {
      if (mine === generation) problem.value = asProblem(error)
    } finally {
      if (mine === generation) loading.value = false
    }
  }

  if (options.immediate !== false) void reload()
  if (options.pollMs) {
    const timer = setInterval(() => {
      if (!loading.value) void reload()
    }, options.pollMs)
    onScopeDispose(() => clearInterval(timer))
  }
  return { data, problem, loading, reload }
}

/** Runs an action (a form's submit), keeping its busy state and problem. */
export function useAction<A extends unknown[], T>(action: (...args: A) => Promise<T>) {
  const busy = ref(false)
  const problem = ref<Problem | null>(null)
  async function run(...args: A): Promise<T | undefined> {
    busy.value = true
    problem.value = null
    try {
      return await action(...args)
    } catch (error) {
      problem.value = asProblem(error)
      return undefined
    } finally {
      busy.value = false
    }
  }
  return { busy, problem, run }
}
