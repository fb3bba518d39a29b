import { Routes } from '@angular/router';
import { adminGuard, loggedInGuard, loggedOutGuard, passwordChangedGuard } from './core/guards';
import { unsavedChangesGuard } from './core/unsaved-changes';

export const routes: Routes = [
  { path: 'login', canActivate: [loggedOutGuard], title: 'Log in · RsyncHub', loadComponent: () => import('./pages/login/login.page').then((m) => m.LoginPage) },
  {
    path: '',
    canActivate: [loggedInGuard],
    canActivateChild: [passwordChangedGuard],
    loadComponent: () => import('./shell/shell.component').then((m) => m.ShellComponent),
    children: [
      { path: '', pathMatch: 'full', title: 'Dashboard · RsyncHub', loadComponent: () => import('./pages/dashboard/dashboard.page').then((m) => m.DashboardPage) },
      { path: 'modules', title: 'Modules · RsyncHub', loadComponent: () => import('./pages/modules/modules.page').then((m) => m.ModulesPage) },
      { path: 'modules/new', canDeactivate: [unsavedChangesGuard], title: 'New module · RsyncHub', loadComponent: () => import('./pages/modules/module-form.page').then((m) => m.ModuleFormPage) },
      { path: 'modules/:name/edit', canDeactivate: [unsavedChangesGuard], title: 'Edit module · RsyncHub', loadComponent: () => import('./pages/modules/module-form.page').then((m) => m.ModuleFormPage) },
      { path: 'modules/:name', title: 'Module · RsyncHub', loadComponent: () => import('./pages/modules/module-detail.page').then((m) => m.ModuleDetailPage) },
      { path: 'users', canDeactivate: [unsavedChangesGuard], title: 'Rsync users · RsyncHub', loadComponent: () => import('./pages/rsync-users/rsync-users.page').then((m) => m.RsyncUsersPage) },
      { path: 'import', canActivate: [adminGuard], title: 'Import · RsyncHub', loadComponent: () => import('./pages/import/import.page').then((m) => m.ImportPage) },
      { path: 'sources', title: 'Sources · RsyncHub', loadComponent: () => import('./pages/sources/sources.page').then((m) => m.SourcesPage) },
      { path: 'tls', title: 'Encryption · RsyncHub', loadComponent: () => import('./pages/tls/tls.page').then((m) => m.TlsPage) },
      { path: 'daemon', canDeactivate: [unsavedChangesGuard], title: 'Daemon · RsyncHub', loadComponent: () => import('./pages/daemon/daemon.page').then((m) => m.DaemonPage) },
      { path: 'transfers', title: 'Transfers · RsyncHub', loadComponent: () => import('./pages/transfers/transfers.page').then((m) => m.TransfersPage) },
      { path: 'transfers/:id', title: 'Transfer · RsyncHub', loadComponent: () => import('./pages/transfers/transfer-detail.page').then((m) => m.TransferDetailPage) },
      { path: 'alerts', title: 'Alerts · RsyncHub', loadComponent: () => import('./pages/alerts/alerts.page').then((m) => m.AlertsPage) },
      { path: 'audit', title: 'Audit log · RsyncHub', loadComponent: () => import('./pages/audit/audit.page').then((m) => m.AuditPage) },
      { path: 'admins', canDeactivate: [unsavedChangesGuard], canActivate: [adminGuard], title: 'Admins & tokens · RsyncHub', loadComponent: () => import('./pages/admins/admins.page').then((m) => m.AdminsPage) },
      { path: 'account', canDeactivate: [unsavedChangesGuard], title: 'Account · RsyncHub', loadComponent: () => import('./pages/account/account.page').then((m) => m.AccountPage) },
    ],
  },
  { path: '**', redirectTo: '' },
];
