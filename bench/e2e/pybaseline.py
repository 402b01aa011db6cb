"""What both Python baselines share: the source listing and object reads, and what each
reports about itself (bytes through its sockets, peak memory and CPU time, all read by the
process itself)."""

import os
import socket
import time


class WireCount:
    """Bytes through this process's sockets (headers included), counted where they are sent
    and received. /proc/self/io would miss them: Python's sockets use send(2) and recv(2)."""

    read = 0
    sent = 0

    @classmethod
    def install(cls):
        recv, recv_into = socket.socket.recv, socket.socket.recv_into
        send, sendall = socket.socket.send, socket.socket.sendall

        def counted_recv(sock, *args):
            data = recv(sock, *args)
            cls.read += len(data)
            return data

        def counted_recv_into(sock, *args):
            n = recv_into(sock, *args)
            cls.read += n
            return n

        def counted_send(sock, data, *args):
            n = send(sock, data, *args)
            cls.sent += n
            return n

        def counted_sendall(sock, data, *args):
            sendall(sock, data, *args)
            cls.sent += memoryview(data).nbytes

        socket.socket.recv = counted_recv
        socket.socket.recv_into = counted_recv_into
        socket.socket.send = counted_send
        socket.socket.sendall = counted_sendall


def vm_hwm_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds():
    """utime + stime of /proc/self/stat: every thread of this process."""
    with open("/proc/self/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(objects, started, cpu_at_start):
    """The BaselineReport line the harness reads (bench/e2e/baselineConfig.ts), for a run that
    began at perf_counter() `started` with cpu_seconds() `cpu_at_start`."""
    return {
        "entries": len(objects),
        "inputBytes": sum(o["Size"] for o in objects),
        "seconds": time.perf_counter() - started,
        "cpuSeconds": cpu_seconds() - cpu_at_start,
        "vmHwmMiB": vm_hwm_mib(),
        "wire": {"read": WireCount.read, "sent": WireCount.sent},
    }


def list_source(client, config):
    """Every object under the source prefix, in listing order."""
    objects = []
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=config["sourceBucket"], Prefix=config["prefix"]
    ):
        objects.extend(page.get("Contents", []))
    return objects


def object_chunks(client, bucket, key):
    """An object's bytes in 1 MiB chunks; its GetObject is sent when first iterated."""
    out = client.get_object(Bucket=bucket, Key=key)
    yield from out["Body"].iter_chunks(chunk_size=1024 * 1024)
