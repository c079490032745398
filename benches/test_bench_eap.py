"""EAP-AKA speed: server-side CPU per full authentication, Milenage f2345 per call.

Each figure is CPU time (``time.process_time``, best of 5 batches) printed beside a baseline
measured the same way in the same run:
* Milenage f2345 vs the cost of the AES-128 block encryptions it needs (4 blocks: TEMP and
  OUT2..OUT4), each timed as one ``cryptography`` single-block ECB ``update``.
* A full server-side EAP-AKA authentication (``EapAkaServer.start`` + ``process`` of the
  peer's challenge response → EAP-Success, vector generation included) vs the "crypto floor":
  the same primitives called directly (6 AES blocks for f1/f2345, SHA-1 for MK, 8 SHA-1
  compressions for the FIPS 186-2 PRF, 2 HMAC-SHA1 for AT_MAC).
"""

from __future__ import annotations

import time
import timeit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from dsmip6.aka import Milenage, Usim
from dsmip6.eap import EapAkaPeer, EapAkaServer, InMemorySubscriberStore, Subscriber, _crypto

K = bytes.fromhex("fec86ba6eb707ed08905757b1bb44b8f")
OPC = bytes.fromhex("1006020f0a478bf6b699f15c062e42b3")
RAND = bytes.fromhex("9f7c8d021accf4db213ccff0c7f71a6a")
IMSI = "001010000000001"
NAI = "0001010000000001@nai.epc.mnc001.mcc001.3gppnetwork.org"


def _per_call(fn, number: int) -> float:
    # CPU time of this process (the machine is shared: wall time would count other jobs).
    return min(timeit.repeat(fn, number=number, repeat=5, timer=time.process_time)) / number


def _aes_block_cost() -> float:
    enc = Cipher(algorithms.AES(K), modes.ECB()).encryptor()
    block = bytes(16)
    return _per_call(lambda: enc.update(block), 20000)


def test_bench_milenage_f2345(benchmark):
    m = Milenage(K, opc=OPC)
    res, ck, ik, ak = m.f2345(RAND)
    assert res.hex() == "8011c48c0c214ed2" and ak.hex() == "33484dc2136b"
    benchmark(m.f2345, RAND)
    ours = _per_call(lambda: m.f2345(RAND), 20000)
    floor = 4 * _aes_block_cost()
    print(
        f"\nMilenage f2345: {ours * 1e6:.2f} us/call; baseline 4 x AES-128 single block "
        f"(cryptography) = {floor * 1e6:.2f} us; ratio {ours / floor:.1f}x"
    )


def _fixed_rng(n: int) -> bytes:
    return RAND[:n] if n <= 16 else bytes(n)


def _server_auth(store: InMemorySubscriberStore, response: bytes) -> bytes:
    server = EapAkaServer(store, rng=_fixed_rng, identity=NAI)
    server.start()
    return server.process(response)


def _crypto_floor() -> None:
    enc = Cipher(algorithms.AES(K), modes.ECB()).encryptor()
    enc.update(bytes(16))  # TEMP (f2345)
    enc.update(bytes(48))  # OUT2..OUT4
    enc.update(bytes(16))  # TEMP (f1)
    enc.update(bytes(16))  # OUT1
    h = hashes.Hash(hashes.SHA1())
    h.update(NAI.encode() + bytes(32))
    mk = h.finalize()
    block = mk + bytes(44)
    for _ in range(8):
        _crypto.sha1_compress(block)
    for _ in range(2):
        mac = crypto_hmac.HMAC(bytes(16), hashes.SHA1())
        mac.update(bytes(80))
        mac.finalize()


def test_bench_server_full_authentication(benchmark):
    store = InMemorySubscriberStore([Subscriber(IMSI, K, OPC)])
    # The peer's Response/AKA-Challenge depends only on RAND, K, OPc and the identity, so one
    # precomputed response answers every server run (SQN moves on in the store; the USIM here
    # is only used once to build that response).
    server = EapAkaServer(store, rng=_fixed_rng, identity=NAI)
    peer = EapAkaPeer(Usim(K, OPC), NAI, rng=_fixed_rng)
    response = peer.process(server.start())
    assert server.process(response)[0] == 3
    assert _server_auth(store, response)[0] == 3  # EAP-Success
    benchmark(_server_auth, store, response)
    ours = _per_call(lambda: _server_auth(store, response), 2000)
    floor = _per_call(_crypto_floor, 2000)
    print(
        f"\nEAP-AKA server, full authentication: {ours * 1e6:.1f} us CPU; baseline crypto floor "
        f"(6 AES blocks + SHA-1 + 8 SHA-1 compressions + 2 HMAC-SHA1) = {floor * 1e6:.1f} us; "
        f"ratio {ours / floor:.1f}x"
    )


def test_bench_server_fast_reauthentication(benchmark):
    from dsmip6.eap import InMemoryReauthStore

    store = InMemorySubscriberStore([Subscriber(IMSI, K, OPC)])
    reauths = InMemoryReauthStore()
    first = EapAkaServer(store, rng=_fixed_rng, identity=NAI, reauth_store=reauths)
    peer = EapAkaPeer(Usim(K, OPC), NAI, rng=_fixed_rng)
    assert first.process(peer.process(first.start()))[0] == 3
    peer.process(bytes((3, 0, 0, 4)))
    ctx = peer.reauth_context
    assert ctx is not None
    server_ctx = reauths.peek(ctx.reauth_id)
    # With deterministic generators the peer's Response/AKA-Reauthentication is the same for
    # every run, so it is computed once; each run re-inserts the one-time context.
    server = EapAkaServer(store, rng=_fixed_rng, identity=ctx.reauth_id, reauth_store=reauths)
    again = EapAkaPeer(Usim(K, OPC), ctx.reauth_id, rng=_fixed_rng, reauth=ctx)
    response = again.process(server.start())
    assert server.process(response)[0] == 3 and server.reauthenticated

    def reauth() -> bytes:
        reauths.put(server_ctx)
        s = EapAkaServer(store, rng=_fixed_rng, identity=ctx.reauth_id, reauth_store=reauths)
        s.start()
        return s.process(response)

    assert reauth()[0] == 3
    benchmark(reauth)
    ours = _per_call(reauth, 2000)
    full_response = EapAkaPeer(Usim(K, OPC), NAI, rng=_fixed_rng).process(
        EapAkaServer(store, rng=_fixed_rng, identity=NAI).start()
    )
    full = _per_call(lambda: _server_auth(store, full_response), 2000)
    print(
        f"\nEAP-AKA server, fast re-authentication: {ours * 1e6:.1f} us CPU; baseline full "
        f"authentication (same run) = {full * 1e6:.1f} us; ratio {ours / full:.2f}x"
    )
