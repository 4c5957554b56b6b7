"""Engines decide where explanation work runs: in this process, or spread over a Dask cluster.

A job opens a ``session()`` and maps its explain function over the batches it reads. Results come
back in input order, whatever the engine, and are identical because the explainers' results do
not depend on how samples are partitioned.
"""

from __future__ import annotations

import abc
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar

import pandas as pd
import pydantic

from explainops.core.component import Component
from explainops.core.pipeline import in_order
from explainops.errors import ConfigError

if TYPE_CHECKING:
    from distributed import Client, Future

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A batch whose task is cancelled this many times (its inputs lost with the workers holding them)
# is not submitted again: the cluster is losing workers faster than it computes.
MAX_RESUBMISSIONS = 3
DASHBOARD_ADDRESS = ":8787"


def thread_limits(threads: int) -> dict[str, str]:
    """Environment capping numba's and BLAS's threads, read once when a process imports them."""
    return {
        name: str(threads)
        for name in (
            "NUMBA_NUM_THREADS",
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
        )
    }


class EngineSession(abc.ABC):
    """A running engine: applies functions to batches where the engine runs them."""

    @abc.abstractmethod
    def map(
        self, function: Callable[[pd.DataFrame], T], batches: Iterable[pd.DataFrame]
    ) -> Iterator[T]:
        """Apply ``function`` to every batch; yield the results in input order.

        Batches are read from ``batches`` lazily, a bounded number ahead of the results consumed,
        so memory is bounded by the batch size, not by the input's size.
        """


class Engine(Component, abc.ABC):
    """Where the work runs: use ``with engine.session() as session: session.map(...)``."""

    KIND: str

    @abc.abstractmethod
    def session(self) -> contextlib.AbstractContextManager[EngineSession]:
        """Start (or connect to) the workers on enter; stop (or disconnect from) them on exit."""


# --- local ----------------------------------------------------------------------------------


class LocalSession(EngineSession):
    """Runs every batch in this process, one after the other."""

    def map(
        self, function: Callable[[pd.DataFrame], T], batches: Iterable[pd.DataFrame]
    ) -> Iterator[T]:
        """Apply ``function`` to each batch as it is read."""
        return in_order(function, batches)


class LocalEngine(Engine):
    """Run in this process (numba still uses all cores within each batch)."""

    KIND: Literal["LocalEngine"] = "LocalEngine"

    @contextlib.contextmanager
    def session(self) -> Iterator[EngineSession]:
        """A session that needs nothing started."""
        yield LocalSession()


# --- dask -----------------------------------------------------------------------------------


def _apply(function: Callable[[pd.DataFrame], T], batch: pd.DataFrame) -> T:
    """Run on a worker: the scattered function, resolved from its future, on one batch."""
    return function(batch)


def _release(future: Future[Any]) -> None:
    """Drop our reference: the scheduler forgets the key once no one needs it."""
    future.release()  # type: ignore[no-untyped-call]


class _ScatteredFunction:
    """The function shipped once to every worker, scattered again if all its replicas are lost.

    A scattered value has no recipe to recompute it: when the last worker holding it dies, the
    scheduler forgets it and cancels every task depending on it. ``generation`` counts the
    scatters, so that the tasks of a lost generation trigger one new scatter between them.
    """

    def __init__(self, client: Client, function: Callable[[pd.DataFrame], Any]) -> None:
        self.client = client
        self.function = function
        self.generation = 0
        self.future = self._scatter()

    def _scatter(self) -> Future[Any]:
        future: Future[Any] = self.client.scatter(self.function, broadcast=True, hash=False)  # type: ignore[no-untyped-call]
        return future

    def scatter_again(self) -> None:
        """Replace the lost replicas by a new scatter to the workers alive now."""
        _release(self.future)
        self.future = self._scatter()
        self.generation += 1

    def release(self) -> None:
        """Let the workers drop the function."""
        _release(self.future)


@dataclass
class _SubmittedBatch(Generic[T]):
    """A batch kept in the driver until its result is consumed, to resubmit it if it is lost."""

    index: int
    batch: pd.DataFrame
    future: Future[T]
    generation: int
    resubmissions: int = 0


class DaskSession(EngineSession):
    """Spreads batches over a Dask cluster's workers, ``max_in_flight`` at most at a time.

    Attributes:
        client: the connected ``distributed.Client`` (its ``dashboard_link``, ``scheduler_info``).
        max_in_flight: batches submitted whose results are not yet consumed.

    """

    def __init__(self, client: Client, max_in_flight: int) -> None:
        self.client = client
        self.max_in_flight = max_in_flight

    def map(
        self, function: Callable[[pd.DataFrame], T], batches: Iterable[pd.DataFrame]
    ) -> Iterator[T]:
        """Apply ``function`` to every batch on the workers; yield results in input order.

        ``function`` (often a closure holding a model and an explainer with its baseline) is
        shipped once to every worker, not once per task. Worker deaths are survived: Dask
        recomputes the lost tasks, and batches whose function was lost with all its replicas are
        resubmitted after scattering it again. A task's error is raised here unchanged.
        """
        scattered = _ScatteredFunction(self.client, function)
        pending: deque[_SubmittedBatch[T]] = deque()
        inputs = enumerate(batches)
        try:
            self._fill(pending, inputs, scattered)
            while pending:
                result = self._result(pending, scattered)
                _release(pending.popleft().future)
                self._fill(pending, inputs, scattered)
                yield result
        finally:
            # A generator closed after its session ended has nothing left to cancel or release.
            if self.client.status == "running":
                if pending:
                    self.client.cancel([submitted.future for submitted in pending])  # type: ignore[no-untyped-call]
                scattered.release()

    def _fill(
        self,
        pending: deque[_SubmittedBatch[T]],
        inputs: Iterator[tuple[int, pd.DataFrame]],
        scattered: _ScatteredFunction,
    ) -> None:
        """Submit batches read from ``inputs`` until ``max_in_flight`` are pending."""
        while len(pending) < self.max_in_flight:
            item = next(inputs, None)
            if item is None:
                return
            index, batch = item
            future = self._submit(batch, scattered)
            pending.append(_SubmittedBatch(index, batch, future, scattered.generation))

    def _submit(
        self, batch: pd.DataFrame, scattered: _ScatteredFunction, priority: int = 0
    ) -> Future[Any]:
        return self.client.submit(_apply, scattered.future, batch, pure=False, priority=priority)

    def _result(self, pending: deque[_SubmittedBatch[T]], scattered: _ScatteredFunction) -> T:
        """The result of the oldest pending batch, resubmitting it if it was cancelled."""
        head = pending[0]
        while True:
            try:
                result: T = head.future.result()
                return result
            except CancelledError:
                if head.resubmissions >= MAX_RESUBMISSIONS:
                    raise
                self._resubmit_cancelled(pending, scattered)

    def _resubmit_cancelled(
        self, pending: deque[_SubmittedBatch[T]], scattered: _ScatteredFunction
    ) -> None:
        """Scatter the function again if the head's generation is lost, resubmit cancelled tasks.

        The head is known to be cancelled; other tasks are resubmitted when the scheduler has
        already told us they are, the rest when they reach the head.
        """
        head = pending[0]
        if head.generation == scattered.generation:
            logger.warning(
                "batch %d was cancelled: the workers holding its inputs were lost; "
                "scattering the function again and resubmitting",
                head.index,
            )
            scattered.scatter_again()
        for submitted in pending:
            if submitted is head or submitted.future.status == "cancelled":
                _release(submitted.future)
                # The driver waits for the oldest batches first: run them first.
                submitted.future = self._submit(submitted.batch, scattered, priority=1)
                submitted.generation = scattered.generation
                submitted.resubmissions += 1


class DaskEngine(Engine):
    """Spread batches over the workers of a Dask cluster: an existing one, or a LocalCluster.

    Args:
        address: ``tcp://host:port`` of a running scheduler; None starts a LocalCluster.
        n_workers: worker processes of the LocalCluster.
        threads_per_worker: threads of each LocalCluster worker; numba uses as many threads
            (``NUMBA_NUM_THREADS``) in each worker, so the cluster uses n_workers x
            threads_per_worker cores. On an existing cluster, set ``NUMBA_NUM_THREADS`` in the
            workers' environment.
        max_in_flight: batches submitted but not yet consumed (default: twice the cluster's
            threads); driver memory is bounded by this many batches and results.
        dashboard: serve the LocalCluster's dashboard on :8787 (needs bokeh).

    The connection timeout is Dask's ``distributed.comm.timeouts.connect`` (default 30 s). On an
    existing cluster whose Active Memory Manager runs (Dask's default), replicas of the function
    may be dropped when few tasks wait, and fetched again from a peer later: results are the
    same, the function is just shipped more than once per worker.

    """

    KIND: Literal["DaskEngine"] = "DaskEngine"
    address: str | None = None
    n_workers: Annotated[int, pydantic.Field(ge=1)] = 2
    threads_per_worker: Annotated[int, pydantic.Field(ge=1)] = 1
    max_in_flight: Annotated[int, pydantic.Field(ge=1)] | None = None
    dashboard: bool = False

    @contextlib.contextmanager
    def session(self) -> Iterator[EngineSession]:
        """Connect to ``address`` or start a LocalCluster; close what was opened on exit."""
        import distributed  # its first import sets its loggers to INFO

        logging.getLogger(distributed.__name__).setLevel(logging.WARNING)
        with contextlib.ExitStack() as stack:
            client = self._connect(self.address) if self.address is not None else self._start(stack)
            stack.callback(client.close)
            n_threads = sum(client.nthreads().values())  # type: ignore[no-untyped-call]
            if n_threads == 0:
                logger.warning("the Dask cluster has no workers yet: tasks wait for them")
            if self.dashboard:
                logger.info("Dask dashboard at %s", client.dashboard_link)
            yield DaskSession(client, self.max_in_flight or max(2, 2 * n_threads))

    @staticmethod
    def _connect(address: str) -> Client:
        from distributed import Client
        from distributed.comm.addressing import get_address_host_port, parse_address

        expected = "expected tcp://host:port of a running scheduler"
        try:
            # Check the form first: Client leaves a half-started client behind on a malformed
            # address, whose later garbage collection can deadlock another client's start.
            if parse_address(address)[0] not in ("inproc", "ucx"):
                get_address_host_port(address)
        except ValueError as error:
            raise ConfigError(f"DaskEngine.address: {address!r}: {error}; {expected}") from error
        try:
            client = Client(address, set_as_default=False)  # type: ignore[no-untyped-call]
        except OSError as error:
            raise ConfigError(
                f"DaskEngine.address: cannot connect to a Dask scheduler at {address!r} "
                f"({error}); {expected}"
            ) from error
        info = client.scheduler_info()
        workers = info.get("workers", {}).values()
        logger.info(
            "connected to the Dask scheduler at %s: %d workers, %d threads",
            address,
            len(workers),
            sum(worker.get("nthreads", 0) for worker in workers),
        )
        return client

    def _start(self, stack: contextlib.ExitStack) -> Client:
        import dask
        from distributed import Client, LocalCluster

        # The Active Memory Manager drops "superfluous" replicas every 2 s, undoing the broadcast
        # of the function whenever fewer tasks wait than there are workers: off in a cluster
        # that serves this session alone.
        with dask.config.set({"distributed.scheduler.active-memory-manager.start": False}):
            cluster = stack.enter_context(
                LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=self.n_workers,
                    threads_per_worker=self.threads_per_worker,
                    processes=True,
                    # Without a dashboard the scheduler still serves /health over HTTP: any port.
                    dashboard_address=DASHBOARD_ADDRESS if self.dashboard else ":0",
                    scheduler_kwargs={"dashboard": self.dashboard},
                    silence_logs=logging.WARNING,
                    # Numba and BLAS read their thread counts once, at import: set before the
                    # worker starts, so workers x threads never oversubscribe the cores.
                    env=thread_limits(self.threads_per_worker),
                )
            )
        logger.info(
            "started a local Dask cluster at %s: %d workers x %d threads",
            cluster.scheduler_address,
            self.n_workers,
            self.threads_per_worker,
        )
        client: Client = Client(cluster, set_as_default=False)  # type: ignore[no-untyped-call]
        return client


EngineKind = LocalEngine | DaskEngine
