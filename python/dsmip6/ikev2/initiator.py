"""The UE side: ``IkeInitiator`` (contract D), one IKE SA at a time towards one HA.

Theory of operation:

1. ``connect`` creates the IKE SA and queues two exchanges: IKE_SA_INIT ([IkeInit]) and IKE_AUTH
   ([IkeAuth, IkeConfig, ChildCreate]); the exchange manager runs them in order.
2. After IKE_AUTH: ``IkeSaEstablished`` (with the CFG_REPLY values), then ``ChildSaEstablished``
   for the child negotiated in IKE_AUTH. Later children: ``create_child_sa``.
3. ``move`` changes the IKE endpoints after a K=1 BU/BA (RFC 4877 §7.4 / RFC 5555 §5.1); child
   SAs are keyed on the HoA and are untouched. ``liveness_check`` afterwards lets the HA learn a
   NAT-mapped address.
4. Nothing here reads a clock or a random source: ``now`` and ``rng`` come from the caller.
"""

from __future__ import annotations

from typing import Any

from dsmip6.errors import LocalProtocolError
from dsmip6.ikev2._engine import Engine, norm_address
from dsmip6.ikev2.child import ChildSa
from dsmip6.ikev2.config import InitiatorConfig
from dsmip6.ikev2.constants import ExchangeType
from dsmip6.ikev2.sa import IkeSa, SaState
from dsmip6.ikev2.tasks.child_create import ChildCreate
from dsmip6.ikev2.tasks.ike_auth import IkeAuth
from dsmip6.ikev2.tasks.ike_config import IkeConfig
from dsmip6.ikev2.tasks.ike_init import IkeInit
from dsmip6.ikev2.transforms import Rng

__all__ = ["IkeInitiator"]


class IkeInitiator(Engine):
    """IKEv2 initiator (UE). Sans-I/O: see the module docstring for the call pattern."""

    def __init__(self, config: InitiatorConfig, *, rng: Rng) -> None:
        super().__init__(config, rng)
        self._current: IkeSa | None = None

    # ------------------------------------------------------------------ state
    @property
    def ike_sa_id(self) -> int | None:
        sa = self._live()
        return sa.id if sa is not None else None

    @property
    def established(self) -> bool:
        sa = self._live()
        return sa is not None and sa.state == SaState.ESTABLISHED

    @property
    def children(self) -> dict[int, ChildSa]:
        """Child SAs by inbound SPI."""
        sa = self._live()
        return dict(sa.children) if sa is not None else {}

    @property
    def local(self) -> tuple[str, int] | None:
        sa = self._live()
        return sa.local if sa is not None else None

    @property
    def remote(self) -> tuple[str, int] | None:
        sa = self._live()
        return sa.remote if sa is not None else None

    def _live(self) -> IkeSa | None:
        sa = self._current
        if sa is None:
            return None
        # follows IKE SA rekeys; an initiator never parks (Engine._parking), no ParkedSa
        cur: IkeSa | None = self._sas.get(sa.id)  # type: ignore[assignment]
        if cur is None or not cur.alive:
            return None
        self._current = cur
        return cur

    def _need(self) -> IkeSa:
        sa = self._live()
        if sa is None:
            raise LocalProtocolError("no IKE SA: call connect() first")
        return sa

    # ------------------------------------------------------------------ API (contract D)
    def connect(self, local: Any, remote: Any, now: float) -> int:
        """Start IKE_SA_INIT from ``local`` (the CoA, port 500) to ``remote`` (the HA).
        Returns the new ``ike_sa_id``. Raises LocalProtocolError if an IKE SA is alive."""
        if self._live() is not None:
            raise LocalProtocolError("an IKE SA is already up or being set up")
        cfg = self.config
        sa = IkeSa(
            self,
            self._next_id,
            True,
            cfg,
            self._rng,
            norm_address(local),
            norm_address(remote),
            now,
        )
        self._next_id += 1
        sa.spi_i = self._new_ike_spi()
        self._register(sa)
        self._current = sa
        sa.mgr.queue.append((ExchangeType.IKE_SA_INIT, [IkeInit(sa, True)]))
        sa.mgr.queue.append(
            (
                ExchangeType.IKE_AUTH,
                [
                    IkeAuth(sa, True),
                    IkeConfig(sa, True),
                    ChildCreate(
                        sa,
                        True,
                        ts_i=cfg.child_ts_i,
                        ts_r=cfg.child_ts_r,
                        mode=cfg.child_mode,
                        in_ike_auth=True,
                    ),
                ],
            )
        )
        sa.mgr.initiate(sa, now)
        self._touch(sa)
        return sa.id

    def create_child_sa(self, ts_i: Any, ts_r: Any, *, mode: str = "transport", now: float) -> None:
        """Queue a CREATE_CHILD_SA (e.g. the HoA-keyed MH transport SA after RFC 5026 HoA
        autoconfiguration). Result: ChildSaEstablished or ChildSaFailed."""
        self._create_child(self._need(), ts_i, ts_r, mode, now)

    def delete_child_sa(self, spi_in: int, now: float) -> None:
        self._delete_child(self._need(), spi_in, now)

    def rekey_child_sa(self, spi_in: int, now: float) -> None:
        self._rekey_child(self._need(), spi_in, now)

    def rekey_ike_sa(self, now: float) -> None:
        self._rekey_ike(self._need(), now)

    def liveness_check(self, now: float) -> None:
        """Send an empty INFORMATIONAL (RFC 7296 §2.4; RFC 5555 §5.1 after a handover)."""
        self._liveness(self._need(), now)

    def delete(self, now: float) -> None:
        """Delete the IKE SA (INFORMATIONAL with D(IKE)); IkeSaDeleted follows."""
        self._delete_ike(self._need(), now)

    def move(self, local: Any, remote: Any) -> None:
        """Move the IKE SA endpoints after a K=1 BU/BA (RFC 4877 §7.4); not MOBIKE."""
        self._move(self._need(), local, remote)
