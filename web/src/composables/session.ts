// Who is signed in: the bearer token from /auth/login and the operator's role, kept in
// sessionStorage (gone when the tab closes; never in localStorage).

import { computed, reactive, ref } from 'vue'
import type { LoginResponse } from '../api/types'

export interface SessionState {
  token: string | null
  username: string | null
  role: string | null
  expiresAt: string | null
}

const KEY = 'consortium.session'
const EMPTY: SessionState = { token: null, username: null, role: null, expiresAt: null }
const RANK: Record<string, number> = { viewer: 1, job_operator: 2, admin: 3 }

function load(storage: Storage | null): SessionState {
  try {
    const raw = storage?.getItem(KEY)
    if (!raw) return { ...EMPTY }
    const saved = JSON.parse(raw) as SessionState
    if (saved.expiresAt && Date.parse(saved.expiresAt) <= Date.now()) return { ...EMPTY }
    return { ...EMPTY, ...saved }
  } catch {
    return { ...EMPTY }
  }
}

export function createSession(storage: Storage | null = globalThis.sessionStorage ?? null) {
  const state = reactive<SessionState>(load(storage))
  const save = () => storage?.setItem(KEY, JSON.stringify(state))
  const atLeast = (role: string) => (RANK[state.role ?? ''] ?? 0) >= RANK[role]
  const expired = ref(false)
  return {
    state,
    signedIn: computed(() => state.token !== null),
    canOperate: computed(() => atLeast('job_operator')),
    isAdmin: computed(() => atLeast('admin')),
    /** set when the last sign-out was the gateway refusing the token (expired, revoked) */
    expired,
    start(login: LoginResponse) {
      Object.assign(state, {
        token: login.access_token,
        username: login.username,
        role: login.role,
        expiresAt: login.expires_at,
      })
      expired.value = false
      save()
    },
    end(becauseExpired = false) {
      Object.assign(state, EMPTY)
      expired.value = becauseExpired
      storage?.removeItem(KEY)
    },
  }
}

export type Session = ReturnType<typeof createSession>
