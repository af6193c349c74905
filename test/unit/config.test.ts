import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBytes, parseHostPort, requireToken } from '../../src/core/config.js';
import { fromSystemError, PlotferryError } from '../../src/core/errors.js';

describe('option parsing', () => {
  it('parses sizes with binary units', () => {
    assert.equal(parseBytes('0', 'reserve'), 0);
    assert.equal(parseBytes('4096', 'reserve'), 4096);
    assert.equal(parseBytes('512M', 'reserve'), 512 * 2 ** 20);
    assert.equal(parseBytes('2GiB', 'reserve'), 2 * 2 ** 30);
    assert.equal(parseBytes('1.5t', 'reserve'), 1.5 * 2 ** 40);
    for (const bad of ['', '-1', 'lots', '1X', '1..5G']) {
      assert.throws(() => parseBytes(bad, 'reserve'), /--reserve/);
    }
  });

  it('parses HOST:PORT, including bracketed IPv6', () => {
    assert.deepEqual(parseHostPort('10.0.0.2:8740', 'to'), { host: '10.0.0.2', port: 8740 });
    assert.deepEqual(parseHostPort('[::1]:9', 'to'), { host: '::1', port: 9 });
    for (const bad of ['host', 'host:0', 'host:70000', ':80', 'a:b']) {
      assert.throws(
        () => parseHostPort(bad, 'to'),
        (e: unknown) => e instanceof PlotferryError && e.code === 'PF_CONFIG',
      );
    }
  });

  it('demands a token, saying how to make one', () => {
    assert.throws(() => requireToken(undefined), /openssl rand/);
    assert.equal(requireToken('x'), 'x');
  });
});

describe('errors', () => {
  it('wraps OS errors once, by errno, keeping the cause', () => {
    const enospc = Object.assign(new Error('no space'), { code: 'ENOSPC' });
    const e = fromSystemError(enospc, 'writing x');
    assert.equal(e.code, 'PF_DISK_FULL');
    assert.equal(e.cause, enospc);
    assert.equal(fromSystemError(Object.assign(new Error(), { code: 'ECONNRESET' }), 'x').code, 'PF_CONNECTION');
    assert.equal(fromSystemError(e, 'again'), e);
    // EACCES is a permission problem, not a failing disk (no dmesg/smartctl advice).
    const acc = fromSystemError(Object.assign(new Error('denied'), { code: 'EACCES' }), 'creating x');
    assert.equal(acc.code, 'PF_PERMISSION');
    assert.doesNotMatch(acc.hint, /smartctl/);
    assert.equal(fromSystemError(Object.assign(new Error(), { code: 'EACCES' }), 'x', 'PF_SOURCE').code, 'PF_SOURCE');
    assert.equal(
      fromSystemError(Object.assign(new Error(), { code: 'EADDRINUSE' }), 'listening', 'PF_CONFIG').code,
      'PF_PORT_IN_USE',
    );
  });

  it('marks only transient failures retryable', () => {
    assert.equal(new PlotferryError('PF_HASH_MISMATCH', '').retryable, true);
    assert.equal(new PlotferryError('PF_BUSY', '').retryable, true);
    assert.equal(new PlotferryError('PF_AUTH', '').retryable, false);
    assert.equal(new PlotferryError('PF_EXISTS', '').retryable, false);
    assert.equal(new PlotferryError('PF_NO_SPACE', '').retryable, false);
  });
});
