import { FormControl, FormGroup } from '@angular/forms';
import type { FieldError } from '@rsynchub/contracts';
import type { ApiError } from './api-error';
import { applyServerErrors, bannerRemainder, describeFieldError, detailPath, messageOnField, spellOut } from './form-errors';

const opts = { labels: { hostsAllow: 'Hosts allow', currentPassword: 'Current password', name: 'Name' }, lists: { hostsAllow: 'line', refuseOptions: 'entry' } } as const;
const err = (details: FieldError[], message = 'x'): ApiError => ({ status: 400, kind: 'validation', message, details });

describe('detailPath', () => {
  it.each([
    [{ field: 'hostsAllow[2]', message: '' }, ['hostsAllow', 2]],
    [{ field: 'users[0].access', message: '' }, ['users', 0, 'access']],
    [{ field: 'webhook.url', message: '' }, ['webhook', 'url']],
    [{ field: 'ignored', message: '', path: ['name'] }, ['name']],
  ] as [FieldError, (string | number)[]][])('%j -> %j', (d, path) => expect(detailPath(d)).toEqual(path));
});

describe('spellOut', () => {
  it.each([
    ['maxConnections', 'Max connections'],
    ['webhook.url', 'Webhook url'],
    ['uid', 'Uid'],
  ])('%s -> %s', (f, words) => expect(spellOut(f)).toBe(words));
});

describe('messages in words, 1-based lines, never the API field name', () => {
  it.each([
    [{ field: 'hostsAllow[2]', message: 'must be an IP address' }, 'Line 3 must be an IP address.', 'Hosts allow, line 3: must be an IP address.'],
    [{ field: 'refuseOptions[0]', message: 'is not an rsync option' }, 'Entry 1 is not an rsync option.', 'Refuse options, entry 1: is not an rsync option.'],
    [{ field: 'currentPassword', message: 'is wrong' }, 'Current password is wrong.', 'Current password is wrong.'],
    [{ field: 'name', message: 'is already taken by another module' }, 'Name is already taken by another module.', 'Name is already taken by another module.'],
    [{ field: 'maxConnections', message: 'must be between 0 and 10000' }, 'Max connections must be between 0 and 10000.', 'Max connections must be between 0 and 10000.'],
  ] as [FieldError, string, string][])('%j', (d, onField, alone) => {
    expect(messageOnField(d, opts)).toBe(onField);
    expect(describeFieldError(d, opts)).toBe(alone);
  });
});

describe('applyServerErrors', () => {
  const form = () => new FormGroup({ name: new FormControl('web'), hostsAllow: new FormControl('a\nb\nc') });

  it('puts each detail on its control (touched, so it shows) and returns the rest', () => {
    const f = form();
    const rest = applyServerErrors(f.controls, err([{ field: 'hostsAllow[2]', message: 'must be an IP address' }, { field: 'uid', message: 'bad' }]), opts);
    expect(f.controls.hostsAllow.getError('server')).toBe('Line 3 must be an IP address.');
    expect(f.controls.hostsAllow.touched).toBe(true);
    expect(rest).toEqual([{ field: 'uid', message: 'bad' }]);
  });

  it('the control loses the server error on its next change', () => {
    const f = form();
    applyServerErrors(f.controls, err([{ field: 'name', message: 'is taken' }]), opts);
    expect(f.controls.name.invalid).toBe(true);
    f.controls.name.setValue('web2');
    expect(f.controls.name.valid).toBe(true);
  });

  it('field names that are not controls (even "__proto__", "constructor") stay for the banner', () => {
    const f = form();
    const odd = [{ field: '__proto__', message: 'x' }, { field: 'constructor', message: 'y' }, { field: 'toString[0]', message: 'z' }];
    expect(applyServerErrors(f.controls, err(odd), opts)).toEqual(odd);
    expect(f.valid).toBe(true);
  });

  it('a disabled control cannot show it: the detail stays for the banner', () => {
    const f = form();
    f.controls.name.disable();
    expect(applyServerErrors(f.controls, err([{ field: 'name', message: 'is taken' }]), opts)).toHaveLength(1);
  });
});

describe('bannerRemainder', () => {
  it('no banner when every detail sits on a field', () => expect(bannerRemainder(err([{ field: 'name', message: 'x' }]), [])).toBeNull());
  it('keeps the message of an error without details', () => expect(bannerRemainder(err([], 'gone'), [])?.message).toBe('gone'));
  it('keeps only the leftover details', () =>
    expect(bannerRemainder(err([{ field: 'name', message: 'x' }, { field: 'uid', message: 'y' }]), [{ field: 'uid', message: 'y' }])?.details).toEqual([{ field: 'uid', message: 'y' }]));
});
