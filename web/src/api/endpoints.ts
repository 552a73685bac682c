// One function per gateway endpoint (docs/gateway.md). Each takes the client first.

import type { ApiClient } from './client'
import type {
  AuditEntry,
  AuditVerification,
  Contributions,
  EnrollmentTokenIssued,
  Job,
  JobCreate,
  LoginResponse,
  Operator,
  Participant,
  ParticipantCreate,
  ParticipantDetail,
  PersonalizationReport,
  PrivacyReport,
  RevocationResult,
  Round,
} from './types'

const seg = encodeURIComponent

export const login = (api: ApiClient, username: string, password: string) =>
  api.request<LoginResponse>('POST', '/auth/login', { body: { username, password } })

export const whoAmI = (api: ApiClient) => api.request<Operator>('GET', '/auth/me')

export const listJobs = (api: ApiClient, query: { status?: string; limit?: number; offset?: number } = {}) =>
  api.request<Job[]>('GET', '/jobs', { query })

export const getJob = (api: ApiClient, jobId: string) => api.request<Job>('GET', `/jobs/${seg(jobId)}`)

export const createJob = (api: ApiClient, job: JobCreate) =>
  api.request<Job>('POST', '/jobs', { body: job })

export const stopJob = (api: ApiClient, jobId: string) =>
  api.request<Job>('POST', `/jobs/${seg(jobId)}/stop`)

export const listRounds = (api: ApiClient, jobId: string) =>
  api.request<Round[]>('GET', `/jobs/${seg(jobId)}/rounds`)

export const getPrivacyReport = (api: ApiClient, jobId: string) =>
  api.request<PrivacyReport>('GET', `/jobs/${seg(jobId)}/privacy-report`)

export const getPersonalization = (api: ApiClient, jobId: string) =>
  api.request<PersonalizationReport>('GET', `/jobs/${seg(jobId)}/personalization`)

export const getContributions = (api: ApiClient, jobId: string) =>
  api.request<Contributions>('GET', `/jobs/${seg(jobId)}/contributions`)

export const downloadModel = (api: ApiClient, jobId: string) =>
  api.request<Blob>('GET', `/jobs/${seg(jobId)}/model`, { as: 'blob' })

export const listParticipants = (api: ApiClient, query: { status?: string; limit?: number; offset?: number } = {}) =>
  api.request<Participant[]>('GET', '/participants', { query })

export const getParticipant = (api: ApiClient, participantId: string) =>
  api.request<ParticipantDetail>('GET', `/participants/${seg(participantId)}`)

export const registerParticipant = (api: ApiClient, participant: ParticipantCreate) =>
  api.request<Participant>('POST', '/participants', { body: participant })

export const issueEnrollmentToken = (api: ApiClient, participantId: string, ttlSeconds?: number) =>
  api.request<EnrollmentTokenIssued>('POST', `/participants/${seg(participantId)}/enrollment-tokens`, {
    body: { ttl_s: ttlSeconds ?? null },
  })

export const revokeParticipant = (api: ApiClient, participantId: string, reason: string) =>
  api.request<RevocationResult>('POST', `/participants/${seg(participantId)}/revoke`, { body: { reason } })

export const readAudit = (api: ApiClient, query: { after_seq?: number; limit?: number; job_id?: string } = {}) =>
  api.request<AuditEntry[]>('GET', '/audit', { query })

export const verifyAudit = (api: ApiClient) => api.request<AuditVerification>('GET', '/audit/verify')

export const exportAudit = (api: ApiClient) => api.request<Blob>('GET', '/audit/export', { as: 'blob' })
