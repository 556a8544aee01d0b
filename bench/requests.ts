/** The requests the benchmark sends, as Docker and dvdcli send them. */
import type { LoadRequest } from './load.js';
import { SECRET_PATH } from './stack.js';

export const VOLUME = 'benchvol';
export const DOCKER_NAME = `token_secret=${SECRET_PATH},name=${VOLUME}`;
export const req = (endpoint: string, body: unknown): LoadRequest => ({ path: `/${endpoint}`, body: JSON.stringify(body) });
/** A container ID as dockerd sends it (64 lowercase hex): the proxy refuses any other shape. */
export const containerId = (seed: string): string => seed.repeat(Math.ceil(64 / seed.length)).slice(0, 64);
export const MOUNT_ID = containerId('0b5e4ac95a3f4e2bbd0f6b3c1d2e3f40');
export const MOUNT = req('VolumeDriver.Mount', { Name: DOCKER_NAME, ID: MOUNT_ID });
export const GET = req('VolumeDriver.Get', { Name: DOCKER_NAME });

/** The steady-state mix: a cycle of 20 requests. */
export function steadyCycle(token: string): LoadRequest[] {
  const inline = `token=${token},name=inlinevol`;
  // One cycle of 20 requests, as Docker and dvdcli send them: many Gets, Mounts and Unmounts, a few
  // Paths, Lists, Capabilities, and a Create and Remove of a second volume.
  const cycle: LoadRequest[] = [
    req('VolumeDriver.Get', { Name: DOCKER_NAME }),
    MOUNT,
    req('VolumeDriver.Path', { Name: DOCKER_NAME }),
    req('VolumeDriver.Unmount', { Name: DOCKER_NAME, ID: MOUNT_ID }),
    req('VolumeDriver.Get', { Name: DOCKER_NAME }),
    req('VolumeDriver.Capabilities', {}),
    req('VolumeDriver.Mount', { Name: inline, ID: containerId('c2') }),
    req('VolumeDriver.Get', { Name: inline }),
    req('VolumeDriver.Unmount', { Name: inline, ID: containerId('c2') }),
    req('VolumeDriver.List', {}),
    req('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/bench-token,name=churnvol', Opts: { size: '1' } }),
    req('VolumeDriver.Get', { Name: 'token_secret=pwx/secrets/bench-token,name=churnvol' }),
    MOUNT,
    req('VolumeDriver.Get', { Name: DOCKER_NAME }),
    req('VolumeDriver.Unmount', { Name: DOCKER_NAME, ID: MOUNT_ID }),
    req('VolumeDriver.Remove', { Name: 'token_secret=pwx/secrets/bench-token,name=churnvol' }),
    req('VolumeDriver.Get', { Name: DOCKER_NAME }),
    MOUNT,
    req('VolumeDriver.Path', { Name: DOCKER_NAME }),
    req('VolumeDriver.Unmount', { Name: DOCKER_NAME, ID: MOUNT_ID }),
  ];
  return cycle;
}
