import { Harvester, HarvesterOptions } from '../../src/farm/harvester-daemon.js';
import { silentLogger } from '../../src/core/log.js';

/**
 * An in-process harvester for tests: on loopback, silent, with heartbeats only when asked
 * (`status`) unless `heartbeatMs` says otherwise.
 */
export function startTestHarvester(
  opts: Pick<HarvesterOptions, 'nc' | 'id' | 'dirs'> & Partial<HarvesterOptions>,
): Promise<Harvester> {
  return Harvester.start({
    advertiseHost: '127.0.0.1',
    listenHost: '127.0.0.1',
    log: silentLogger(),
    heartbeatMs: 60_000,
    // Test disks are temporary directories, on the root filesystem on most machines.
    allowRootFs: true,
    ...opts,
  });
}
