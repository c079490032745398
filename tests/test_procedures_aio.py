"""The asyncio adapter drives a UE and an HA over an in-memory 'socket' on a real loop."""

import asyncio

from dsmip6._state import UeState
from dsmip6.aio import Driver
from dsmip6.events import AttachCompleted
from proc_harness import COA6, make_ha, make_ue


def test_driver_attaches_on_a_real_event_loop():
    async def main():
        ue, ha = make_ue(), make_ha()
        ue.set_access(coa6=COA6)
        seen = []
        drivers = {}

        def deliver(to):
            def send(data, src, dst):
                asyncio.get_running_loop().call_soon(drivers[to].datagram_received, data, src, dst)

            return send

        drivers["ue"] = Driver(ue, deliver("ha"), on_event=seen.append)
        drivers["ha"] = Driver(ha, deliver("ue"))
        drivers["ue"].call(lambda now: ue.attach("internet", now))
        for _ in range(200):
            if any(isinstance(e, AttachCompleted) for e in seen):
                break
            await asyncio.sleep(0.001)
        for d in drivers.values():
            d.close()
        return ue, seen

    ue, seen = asyncio.run(main())
    assert ue.state("internet") is UeState.REGISTERED
    assert any(isinstance(e, AttachCompleted) for e in seen)


def test_driver_rearms_timer_for_retransmission():
    async def main():
        ue = make_ue()
        ue.set_access(coa6=COA6)
        sent = []
        d = Driver(ue, lambda data, src, dst: sent.append(dst))
        d.call(lambda now: ue.attach("internet", now))
        first = len(sent)
        # IKE double retransmits after 0.5 s when nothing answers.
        await asyncio.sleep(0.6)
        d.close()
        return first, len(sent)

    first, total = asyncio.run(main())
    assert first == 1 and total == 2
