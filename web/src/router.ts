import { createRouter, createWebHistory, type Router } from 'vue-router'
import type { Session } from './composables/session'

export function createConsoleRouter(session: Session): Router {
  const router = createRouter({
    history: createWebHistory(import.meta.env.BASE_URL),
    routes: [
      { path: '/', redirect: '/jobs' },
      { path: '/login', name: 'login', component: () => import('./pages/LoginPage.vue'), meta: { public: true } },
      { path: '/jobs', name: 'jobs', component: () => import('./pages/JobsPage.vue') },
      { path: '/jobs/:id', name: 'job', component: () => import('./pages/JobPage.vue'), props: true },
      { path: '/participants', name: 'participants', component: () => import('./pages/ParticipantsPage.vue') },
      { path: '/audit', name: 'audit', component: () => import('./pages/AuditPage.vue') },
      { path: '/:unknown(.*)*', redirect: '/jobs' },
    ],
  })
  router.beforeEach((to) => {
    if (!to.meta.public && !session.signedIn.value) {
      return { name: 'login', query: to.fullPath !== '/jobs' ? { next: to.fullPath } : {} }
    }
    return true
  })
  return router
}
