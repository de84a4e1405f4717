// The pieces of multi-host launching that need no cluster: by-slot placement (Open MPI's default mapping),
// which hosts count as this machine, the choice of the launcher's address, --launch-agent's words, and the
// framing between tsmpirun and its rank agents (chunked arbitrarily, as pipes and sockets deliver it).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { chooseLauncherAddress, isLocalHost, placeRanks } from '../../launcher/hosts.js';
import {
  FrameKind, FrameReader, MAX_FRAME_BYTES, NONCE_BYTES, agentProof, checkAgentProof, encodeFrame, shellQuote,
} from '../../launcher/spawn/agent-protocol.js';
import { splitLaunchAgent } from '../../launcher/spawn/remote.js';
import { runJob } from '../helpers/job.js';

describe('by-slot placement', () => {
  it('fills each host\'s slots in order, then the next host', () => {
    expect(placeRanks([{ host: 'a', slots: 2 }, { host: 'b', slots: 2 }], 4)).toEqual(['a', 'a', 'b', 'b']);
    expect(placeRanks([{ host: 'a', slots: 3 }, { host: 'b', slots: 1 }], 3)).toEqual(['a', 'a', 'a']);
  });
  it('wraps around when oversubscribed', () => {
    expect(placeRanks([{ host: 'a', slots: 1 }, { host: 'b', slots: 2 }], 7)).toEqual(['a', 'b', 'b', 'a', 'b', 'b', 'a']);
  });
});

describe('hosts and addresses', () => {
  it('this machine: localhost, its name, loopback and its own addresses; not an unknown name', async () => {
    expect(await isLocalHost('localhost')).toBe(true);
    expect(await isLocalHost(hostname())).toBe(true);
    expect(await isLocalHost('127.0.0.1')).toBe(true);
    expect(await isLocalHost('no-such-host.invalid')).toBe(false);
    expect(await isLocalHost('192.0.2.123')).toBe(false); // TEST-NET-1, never one of ours
  });
  it('TSMPI_LAUNCHER_ADDRESS overrides the route; a wildcard is refused; an unknown host asks for it', async () => {
    expect(await chooseLauncherAddress(['whatever.invalid'], { TSMPI_LAUNCHER_ADDRESS: '10.1.2.3' })).toBe('10.1.2.3');
    await expect(chooseLauncherAddress(['x'], { TSMPI_LAUNCHER_ADDRESS: '0.0.0.0' })).rejects.toThrow(/wildcard/);
    await expect(chooseLauncherAddress(['no-such-host.invalid'], {})).rejects.toThrow(/TSMPI_LAUNCHER_ADDRESS/);
    expect(await chooseLauncherAddress(['127.0.0.1'], {})).toBe('127.0.0.1');
  });
  it('tsmpirun refuses more ranks than slots without --oversubscribe, and unknown hosts, with usage errors', async () => {
    const over = await runJob({ np: 3, launcherArgs: ['--host', 'a:1,b:1'], script: 'examples/ring.ts' });
    expect(over.code, over.job.describe()).toBe(2);
    expect(over.stderr).toContain('3 ranks requested but the hosts have 2 slots');
    await over.job.dispose();
    const unknown = await runJob({ launcherArgs: ['--host', 'no-such-host.invalid:2'], script: 'examples/ring.ts' });
    expect(unknown.code, unknown.job.describe()).toBe(2);
    expect(unknown.stderr).toContain('TSMPI_LAUNCHER_ADDRESS');
    await unknown.job.dispose();
  });
  it('--host with only this machine runs local ranks, -np defaulting to the slots', async () => {
    const r = await runJob({ launcherArgs: ['--host', 'localhost:3'], script: 'examples/ring.ts' });
    expect(r.code, r.job.describe()).toBe(0);
    expect(r.stdout.trim().split('\n').sort()).toEqual([0, 1, 2].map((k) => `I am rank ${k} ; my right neighbour is ${(k + 1) % 3}`));
    await r.job.dispose();
  });
});

describe('--launch-agent words', () => {
  it('splits on blanks, keeps quoted words whole', () => {
    expect(splitLaunchAgent('ssh -F /tmp/cfg')).toEqual(['ssh', '-F', '/tmp/cfg']);
    expect(splitLaunchAgent(`ssh -o "ProxyCommand nc %h %p" -p 2222`)).toEqual(['ssh', '-o', 'ProxyCommand nc %h %p', '-p', '2222']);
    expect(shellQuote('/usr/bin/node')).toBe('/usr/bin/node');
    expect(shellQuote("/a b/it's")).toBe(`'/a b/it'\\''s'`);
  });
});

describe('agent framing', () => {
  it('frames survive any chunking, in order', () => {
    const frames = [encodeFrame(FrameKind.Stdin, 'hello'), encodeFrame(FrameKind.StdinEnd), encodeFrame(FrameKind.Signal, 'SIGTERM'),
      encodeFrame(FrameKind.Stdout, randomBytes(70_000))];
    const stream = Buffer.concat(frames);
    for (const size of [1, 3, 5, 4096, stream.length]) {
      const got: [number, Buffer][] = [];
      const reader = new FrameReader((kind, payload) => got.push([kind, Buffer.from(payload)]));
      for (let at = 0; at < stream.length; at += size) reader.push(stream.subarray(at, at + size));
      expect(got.map(([k]) => k)).toEqual([FrameKind.Stdin, FrameKind.StdinEnd, FrameKind.Signal, FrameKind.Stdout]);
      expect(got[0]![1].toString()).toBe('hello');
      expect(got[3]![1].equals(frames[3]!.subarray(5))).toBe(true);
    }
  });
  it('refuses a frame longer than the limit before buffering it', () => {
    const head = Buffer.alloc(5);
    head.writeUInt8(FrameKind.Stdout, 0);
    head.writeUInt32LE(MAX_FRAME_BYTES + 1, 1);
    expect(() => new FrameReader(() => {}).push(head)).toThrow(/exceeds/);
  });
  it('an agent proves the secret for its rank; a wrong secret, nonce or rank is refused', () => {
    const secret = randomBytes(32), nonce = randomBytes(NONCE_BYTES);
    const proof = agentProof(secret, nonce, 3);
    expect(checkAgentProof(secret, nonce, proof, 4)).toBe(3);
    expect(checkAgentProof(secret, nonce, proof, 3)).toBeUndefined(); // rank beyond the job
    expect(checkAgentProof(randomBytes(32), nonce, proof, 4)).toBeUndefined();
    expect(checkAgentProof(secret, randomBytes(NONCE_BYTES), proof, 4)).toBeUndefined();
    const forged = Buffer.from(proof);
    forged.writeUInt32LE(2, 0);
    expect(checkAgentProof(secret, nonce, forged, 4)).toBeUndefined();
  });
});
