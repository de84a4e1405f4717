#!/usr/bin/python3
# The Open MPI side of the benchmark's `openmpi` group: the same measurements as bench/ranks/p2p.ts and
# bench/ranks/coll.ts, written with mpi4py, speaking the same protocol as bench/ranks/serve.ts.
#
#   mpirun.openmpi -np N /usr/bin/python3 bench/mpi4py/serve.py
#
# Rank 0 reads one JSON command per line on its stdin (mpirun forwards its own stdin to rank 0), every
# rank gets it by a broadcast (not timed) and runs it, and rank 0 prints `RESULT {json}`. A quit command,
# or the end of stdin, ends the job on every rank.
#
# kinds:  typed             Send/Recv ping-pong of a numpy uint8 array of `size` bytes, ranks 0 and 1
#                           → seconds per round trip
#         object            send/recv ping-pong of a `bytes` object of `size` bytes (pickled: mpi4py's
#                           lowercase path; rank 1 echoes what it received) → seconds per round trip
#         allreduce-typed   Allreduce of `count` float64, SUM, separate send and receive buffers
#                           → seconds per call, mean over ranks (and the max)
#         allreduce-object  comm.allreduce of one Python float, SUM → seconds per call
#         barrier           Barrier → seconds per call
#         ring              token ring of a uint8 array of `size` bytes (default 8): rank r receives from
#                           r − 1 and sends to r + 1 → seconds per hop
#
# Warm-up and timing follow bench/lib.ts (warmIterations, WARM_SECONDS, iterationsFor), mirrored below:
# the point-to-point kinds as ranks/p2p.ts (rank 0 sizes the timed run and tells rank 1), the others as
# ranks/coll.ts (rank 0 sizes it and broadcasts the count; Barrier; every rank times the same count; the
# mean over ranks of the time per call, OSU's "Avg Latency").
#
# Ranks that wait for the next command poll a nonblocking broadcast and sleep between polls (up to 50 ms):
# a blocking MPI wait busy-polls a core, and this job sits idle while the driver measures tsmpi next to it.
import json
import math
import sys
import time

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
size = comm.Get_size()
TAG, CTL_TAG = 1, 3
KiB = 1024
MiB = 1024 * 1024

# ---- bench/lib.ts, mirrored: keep the two alike --------------------------------------------------
WARM_SECONDS = 0.25


def warm_iterations(nbytes):
    return 500 if nbytes <= 64 * KiB else 20 if nbytes <= MiB else 3 if nbytes <= 16 * MiB else 1


def iteration_bounds(nbytes):
    if nbytes <= 64 * KiB:
        return 200, 200_000
    if nbytes <= MiB:
        return 20, 5000
    if nbytes <= 16 * MiB:
        return 5, 500
    return 3, 50


def iterations_for(nbytes, per_iteration, budget):
    lo, hi = iteration_bounds(nbytes)
    n = math.ceil(budget / max(per_iteration, 1e-9))
    return max(lo, min(hi, n))


now = MPI.Wtime

# ---- the command loop -----------------------------------------------------------------------------
COMMAND_BYTES = 1 << 16


def next_command():
    """The next command on every rank (None at the end of stdin): rank 0 reads it, an Ibcast shares it."""
    buf = np.zeros(COMMAND_BYTES, dtype=np.uint8)
    if rank == 0:
        line = sys.stdin.readline()
        data = line.strip().encode() if line else b'null'
        if len(data) + 4 > COMMAND_BYTES:
            raise ValueError('command too long')
        buf[:4] = np.frombuffer(len(data).to_bytes(4, 'little'), dtype=np.uint8)
        buf[4:4 + len(data)] = np.frombuffer(data, dtype=np.uint8)
    req = comm.Ibcast([buf, MPI.BYTE], root=0)
    pause = 0.0001
    while not req.Test():
        time.sleep(pause)
        pause = min(2 * pause, 0.05)
    n = int.from_bytes(buf[:4].tobytes(), 'little')
    return json.loads(buf[4:4 + n].tobytes())


# ---- point to point (ranks 0 and 1), as ranks/p2p.ts ----------------------------------------------

def p2p_body(cmd):
    nbytes = int(cmd['size'])
    peer = 1 - rank
    if cmd['kind'] == 'typed':
        buf = np.zeros(nbytes, dtype=np.uint8)
        msg = [buf, MPI.BYTE]
        if rank == 0:
            def body(n):
                for _ in range(n):
                    comm.Send(msg, dest=peer, tag=TAG)
                    comm.Recv(msg, source=peer, tag=TAG)
        else:
            def body(n):
                for _ in range(n):
                    comm.Recv(msg, source=peer, tag=TAG)
                    comm.Send(msg, dest=peer, tag=TAG)
        return body
    # object: a bytes object, pickled by mpi4py's lowercase send; the peer echoes what it received.
    value = bytes(nbytes)
    if rank == 0:
        def body(n):
            for _ in range(n):
                comm.send(value, dest=peer, tag=TAG)
                comm.recv(source=peer, tag=TAG)
    else:
        def body(n):
            for _ in range(n):
                v = comm.recv(source=peer, tag=TAG)
                comm.send(v, dest=peer, tag=TAG)
    return body


def measure_p2p(cmd):
    if rank > 1:
        return None
    nbytes = int(cmd['size'])
    body = p2p_body(cmd)
    warm = warm_iterations(nbytes)
    warm_start = now()
    n = 0
    while n == 0:
        t0 = now()
        body(warm)
        batch = now() - t0
        if rank == 0:
            n = 0 if now() - warm_start < WARM_SECONDS else iterations_for(nbytes, batch / warm, cmd['budget'])
            comm.send(n, dest=1, tag=CTL_TAG)
        else:
            n = comm.recv(source=0, tag=CTL_TAG)
    cpu0 = time.process_time()
    t1 = now()
    body(n)
    seconds = now() - t1
    cpu = time.process_time() - cpu0
    return {'perIteration': seconds / n, 'iterations': n, 'cpuPerIteration': cpu / n} if rank == 0 else None


# ---- collectives and the ring (every rank), as ranks/coll.ts ---------------------------------------

def coll_body(cmd):
    kind = cmd['kind']
    if kind == 'allreduce-typed':
        count = int(cmd['count'])
        send = np.full(count, rank + 1, dtype=np.float64)
        recv = np.zeros(count, dtype=np.float64)

        def body(n):
            for _ in range(n):
                comm.Allreduce(send, recv, op=MPI.SUM)
        return body, count * 8
    if kind == 'allreduce-object':
        value = float(rank + 1)

        def body(n):
            for _ in range(n):
                comm.allreduce(value, op=MPI.SUM)
        return body, 8
    if kind == 'barrier':
        def body(n):
            for _ in range(n):
                comm.Barrier()
        return body, 8
    if kind == 'ring':
        nbytes = int(cmd.get('size', 8))
        token = [np.zeros(nbytes, dtype=np.uint8), MPI.BYTE]
        left, right = (rank - 1) % size, (rank + 1) % size
        if rank == 0:
            def body(n):
                for _ in range(n):
                    comm.Send(token, dest=right, tag=TAG)
                    comm.Recv(token, source=left, tag=TAG)
        else:
            def body(n):
                for _ in range(n):
                    comm.Recv(token, source=left, tag=TAG)
                    comm.Send(token, dest=right, tag=TAG)
        return body, max(nbytes, 8)
    raise ValueError(f'unknown kind {kind}')


def measure_coll(cmd):
    body, nbytes = coll_body(cmd)
    warm = warm_iterations(nbytes)
    comm.Barrier()
    warm_start = now()
    n = 0
    while n == 0:
        t0 = now()
        body(warm)
        batch = now() - t0
        n = comm.bcast((0 if now() - warm_start < WARM_SECONDS else iterations_for(nbytes, batch / warm, cmd['budget'])) if rank == 0 else 0, root=0)
    comm.Barrier()
    t1 = now()
    body(n)
    per = (now() - t1) / n
    if cmd['kind'] == 'ring':
        per /= size  # one iteration is a whole trip around the ring: `size` hops
    every = comm.gather(per, root=0)
    if rank != 0:
        return None
    return {'perIteration': sum(every) / len(every), 'max': max(every), 'iterations': n}


def main():
    while True:
        cmd = next_command()
        if cmd is None or cmd.get('kind') == 'quit':
            break
        if cmd['kind'] in ('typed', 'object'):
            if size < 2:
                raise ValueError('point-to-point kinds need 2 ranks or more')
            result = measure_p2p(cmd)
        else:
            result = measure_coll(cmd)
        if rank == 0:
            print(f'RESULT {json.dumps(result)}', flush=True)


main()
