"""Loading a generated population into a dedicated PostgreSQL database through the import path.

The database is created (and later dropped) by the bench; it never touches another one. Users
are created directly; officials, evaluations and separations go through
``app.services.imports.imports.run_job`` exactly as ``registry import`` runs them; task forces and
their
members are inserted directly (there is no import for them), as the issue allows.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import os
import resource
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, insert, make_url, select, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from app.auth.passwords import PasswordHasher
from app.clock import Clock
from app.config import Settings
from app.db import make_engine, make_sessionmaker, unit_of_work
from app.domain.access import Principal
from app.models import Agency, Listing, Official, TaskForce, TaskForceMember, User
from app.services.accounts.users import create_user
from app.services.imports import imports as import_service
from app.services.registry.agency_seed import seed_agencies
from bench.generate import Manifest

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# The import phases in order; ``--phases`` may run some of them (officials always run: the
# others refer to them; reciprocal evaluations need the task forces, so naming "reciprocal"
# inserts the task forces too). "task_forces" alone inserts the rosters without the reciprocal
# evaluations: the compliance scenario then runs on members vetted by their own country only.
PHASES = ("officials", "evaluations", "separations", "task_forces", "reciprocal")
# Run only when named: a cohort of new Mexican officials imported into the loaded registry, some
# of them listed people re-hired under the same names and date of birth (the R3 gate's
# realistic workload: in the phases above nobody is listed yet when the officials arrive).
OPTIONAL_PHASES = ("rehire",)
REHIRE_SHARE = 0.10  # the cohort: a tenth of the population's size
REHIRED_LISTED = 0.10  # of the listed Mexicans, the share that applies again


def admin_url() -> str:
    """Where to create the bench database: BENCH_PG_URL, else TEST_DATABASE_URL, else the
    local server's ``test`` database."""
    return (
        os.environ.get("BENCH_PG_URL") or os.environ.get("TEST_DATABASE_URL") or DEFAULT_ADMIN_URL
    )


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


@dataclass
class BenchDatabase:
    name: str
    url: str
    admin: str

    @classmethod
    def create(cls, name: str, admin: str | None = None) -> BenchDatabase:
        admin = admin or admin_url()
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return cls(name, url, admin)

    def migrate(self) -> None:
        from alembic import command

        from app.cli import alembic_config

        cfg: Any = alembic_config(self.url)
        cfg.attributes["skip_logging"] = True
        command.upgrade(cfg, "head")

    def drop(self) -> None:
        engine = create_engine(self.admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        engine.dispose()

    def analyze(self) -> None:
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
        engine.dispose()


def bench_settings(url: str) -> Settings:
    """Fresh keys for this run; the server gets the same through REGISTRY_* variables."""
    return Settings(
        env="development",
        database_url=url,
        jwt_secret=_key(),
        identifier_key=_key(),
        blind_index_key=_key(),
        signing_key=_key(),
        log_level="WARNING",
        access_token_minutes=120,
    )


def server_env(settings: Settings) -> dict[str, str]:
    names = (
        "env",
        "database_url",
        "jwt_secret",
        "identifier_key",
        "blind_index_key",
        "signing_key",
        "log_level",
        "access_token_minutes",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update({f"REGISTRY_{n.upper()}": str(getattr(settings, n)) for n in names})
    env["REGISTRY_DATABASE_POOL_SIZE"] = "10"
    # The bench measures capacity, not the enumeration limits of docs/security.md: its few
    # users send far more than a person would, so their quotas are lifted.
    for quota in (
        "QUOTA_SCREENINGS",
        "QUOTA_SCREENING_ITEMS",
        "QUOTA_SEARCHES",
        "QUOTA_LISTING_ITEMS",
        "QUOTA_LISTING_ITEMS_PER_AGENCY",
        "QUOTA_OFFICIAL_READS",
        "QUOTA_OFFICIAL_READS_PER_AGENCY",
    ):
        env[f"REGISTRY_{quota}"] = str(10**9)
    env["REGISTRY_ENUMERATION_MISS_THRESHOLD"] = str(10**9)
    return env


@dataclass
class Users:
    passwords: dict[str, str]
    ids: dict[str, uuid.UUID]
    principals: dict[str, Principal]


USERS = (
    ("bench-admin-mx", ["admin"], "MX"),
    ("bench-admin-us", ["admin"], "US"),
    ("bench-commission", ["commission_member"], "US"),
)


def create_users(factory: sessionmaker[Session], settings: Settings) -> Users:
    hasher = PasswordHasher(settings)
    now = Clock().now()
    out = Users({}, {}, {})
    with unit_of_work(factory) as session:
        doj = session.scalar(
            select(Agency.id).where(Agency.country == "US", Agency.acronym == "DOJ")
        )
        for username, roles, country in USERS:
            password = secrets.token_urlsafe(18)
            user = create_user(
                session,
                actor=None,
                hasher=hasher,
                username=username,
                password=password,
                roles=roles,
                country=country,
                agency_id=doj if "commission_member" in roles else None,
                now=now,
            )
            out.passwords[username] = password
            out.ids[username] = user.id
            out.principals[username] = import_service.principal_of(user)
    return out


@dataclass
class Phase:
    name: str
    rows: int
    accepted: int
    rejected: int
    duplicates: int
    seconds: float
    # CPU seconds spent on the phase by this process, its worker processes, and the
    # PostgreSQL backends of the bench database: a cost that does not depend on what else the
    # machine is doing.
    cpu_main: float = 0.0
    cpu_workers: float = 0.0
    cpu_postgres: float = 0.0

    @property
    def cpu_us_per_row(self) -> float:
        total = self.cpu_main + self.cpu_workers + self.cpu_postgres
        return 1e6 * total / self.rows if self.rows else 0.0

    @property
    def per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Loaded:
    phases: list[Phase] = field(default_factory=list)
    officials_per_second: float = 0.0
    officials_cpu_us: float = 0.0  # CPU µs per official, all processes together
    task_forces: int = 0
    members: int = 0
    listed: int = 0
    officials: int = 0
    errors: list[str] = field(default_factory=list)


_TICK = os.sysconf("SC_CLK_TCK")


def _backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to the bench database (read
    from /proc: the server runs on this machine). Asked on a connection of its own, so the
    import's pooled connections are all counted."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        pids = list(
            conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            ).scalars()
        )
    engine.dispose()
    out: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / _TICK
    return out


def _import(
    factory: sessionmaker[Session],
    settings: Settings,
    actor: Principal,
    kind: str,
    path: Path,
    workers: int,
    loaded: Loaded,
    label: str,
) -> Phase:
    clock = Clock()
    with unit_of_work(factory) as session:
        job = import_service.create_job(
            session,
            actor=actor,
            kind=kind,
            file_format="csv",
            payload=None,
            filename=str(path),
            now=clock.now(),
        )
        job_id = job.id
    # Worker processes pay off where rows cost CPU to validate; a separation is one statement.
    workers = workers if kind != "separations" else 0
    url = factory.kw["bind"].url.render_as_string(hide_password=False)
    pg_before = _backend_cpu(url)
    main_before = time.process_time()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    progress = import_service.run_job(
        factory, job_id=job_id, settings=settings, clock=clock, workers=workers
    )
    seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    pg_after = _backend_cpu(url)
    phase = Phase(
        label,
        progress.total_rows,
        progress.accepted,
        progress.rejected,
        progress.duplicates,
        seconds,
        cpu_main=time.process_time() - main_before,
        cpu_workers=(children.ru_utime + children.ru_stime)
        - (children_before.ru_utime + children_before.ru_stime),
        cpu_postgres=sum(v - pg_before.get(pid, 0.0) for pid, v in pg_after.items()),
    )
    if progress.rejected:
        from app.models import ImportRowError

        with factory() as session:
            for e in session.scalars(
                select(ImportRowError).where(ImportRowError.job_id == job_id).limit(5)
            ):
                loaded.errors.append(f"{label} line {e.line}: {e.code} {e.reason}")
    print(
        f"  {label}: {phase.rows} rows in {seconds:.1f}s ({phase.per_second:,.0f}/s), "
        f"{phase.rejected} rejected; CPU {phase.cpu_main:.1f}s here, {phase.cpu_workers:.1f}s "
        f"workers, {phase.cpu_postgres:.1f}s PostgreSQL ({phase.cpu_us_per_row:,.0f} µs/row)",
        flush=True,
    )
    loaded.phases.append(phase)
    return phase


def rehire_file(factory: sessionmaker[Session], data: Path, manifest: Manifest) -> Path:
    """The ``rehire`` phase's file: a fresh Mexican cohort (another seed of the generator, a
    tenth of the population, its references prefixed ``NEW-``) and, for one listed Mexican in
    ten, a row with the listed person's names and date of birth, no CURP, at an agency: what
    the R3 gate must refuse (OFFICIAL_LISTED) while letting the cohort in."""
    from bench.generate import generate

    size = max(1000, int(manifest.size * REHIRE_SHARE))
    cohort_dir = data / f"rehire-{size}"
    if not (cohort_dir / "manifest.json").exists():
        generate(cohort_dir, size=size, seed=manifest.seed + 1, task_forces=0)
    cohort = Manifest.read(cohort_dir / "manifest.json")
    with (cohort_dir / cohort.files.officials["MX"]).open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or ())
        rows = [{**r, "source_ref": f"NEW-{r['source_ref']}"} for r in reader]
    with factory() as session:
        listed = session.execute(
            select(
                Official.given_names,
                Official.first_surname,
                Official.second_surname,
                Official.date_of_birth,
            )
            .where(Official.country == "MX", Official.id.in_(select(Listing.official_id)))
            .order_by(Official.id)
        ).all()
    step = max(1, round(1 / REHIRED_LISTED))
    template = rows[0]
    for n, (given, first, second, born) in enumerate(listed[::step]):
        rows.insert(
            (n * 37) % len(rows),
            {
                **template,
                "source_ref": f"REHIRE-{n:06d}",
                "given_names": given,
                "first_surname": first,
                "second_surname": second or "",
                "date_of_birth": born.isoformat(),
                "curp": "",
                "rfc": "",
            },
        )
    path = data / f"rehire_mx-{len(listed)}.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def vetting_officers(factory: sessionmaker[Session], settings: Settings) -> dict[str, Principal]:
    """One vetting officer per vetting body, by the body's acronym: evaluations are imported by
    a vetting officer, for its own body only (R25, #18 F7; docs/import.md)."""
    hasher = PasswordHasher(settings)
    now = Clock().now()
    out: dict[str, Principal] = {}
    with unit_of_work(factory) as session:
        bodies = session.execute(
            select(Agency.id, Agency.acronym, Agency.country).where(Agency.can_vet)
        ).all()
        for agency_id, acronym, country in bodies:
            user = create_user(
                session,
                actor=None,
                hasher=hasher,
                username=f"bench-vetter-{acronym.lower()}",
                password=secrets.token_urlsafe(18),
                roles=["vetting_officer"],
                country=country,
                agency_id=agency_id,
                now=now,
            )
            out[acronym] = import_service.principal_of(user)
        for user in session.scalars(select(User).where(User.username.like("bench-admin-%"))):
            out[user.username.removeprefix("bench-")] = import_service.principal_of(user)
    return out


def split_by_body(path: Path) -> dict[str, Path]:
    """The rows of an evaluations file by ``conducted_by``, one file per body next to it (kept:
    the population is reused across runs)."""
    out: dict[str, Path] = {}
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows: dict[str, list[dict[str, str]]] = {}
        for row in reader:
            rows.setdefault(row["conducted_by"], []).append(row)
        header = list(reader.fieldnames or ())
    for acronym, items in sorted(rows.items()):
        target = path.with_name(f"{path.stem}.by-{acronym.lower()}{path.suffix}")
        if not target.exists():
            part = target.with_suffix(".part")
            with part.open("w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
                writer.writeheader()
                writer.writerows(items)
            part.replace(target)
        out[acronym] = target
    return out


def _import_by_body(
    factory: sessionmaker[Session],
    settings: Settings,
    officers: dict[str, Principal],
    path: Path,
    workers: int,
    loaded: Loaded,
    label: str,
) -> Phase:
    """An evaluations file imported body by body, each part by that body's vetting officer;
    reported as one phase (the parts' rows, times and CPU added up). A checkout from before
    evaluations needed a vetting officer (``bench ab``, before/after runs) imports the whole
    file as the country's admin, as it did then."""
    if not hasattr(import_service, "check_import_authority"):
        admin = officers[f"admin-{label.split()[-1].lower()}"]
        return _import(factory, settings, admin, "evaluations", path, workers, loaded, label)
    parts: list[Phase] = []
    for acronym, part in split_by_body(path).items():
        part_loaded = Loaded()
        parts.append(
            _import(
                factory,
                settings,
                officers[acronym],
                "evaluations",
                part,
                workers,
                part_loaded,
                f"  {label} ({acronym})",
            )
        )
        loaded.errors.extend(part_loaded.errors)
    phase = Phase(
        label,
        sum(p.rows for p in parts),
        sum(p.accepted for p in parts),
        sum(p.rejected for p in parts),
        sum(p.duplicates for p in parts),
        sum(p.seconds for p in parts),
        cpu_main=sum(p.cpu_main for p in parts),
        cpu_workers=sum(p.cpu_workers for p in parts),
        cpu_postgres=sum(p.cpu_postgres for p in parts),
    )
    print(
        f"  {label}: {phase.rows} rows in {phase.seconds:.1f}s ({phase.per_second:,.0f}/s) by "
        f"{len(parts)} vetting officers, {phase.rejected} rejected ({phase.cpu_us_per_row:,.0f} "
        "µs/row)",
        flush=True,
    )
    loaded.phases.append(phase)
    return phase


def populate(
    db: BenchDatabase,
    settings: Settings,
    data: Path,
    manifest: Manifest,
    *,
    workers: int,
    phases: tuple[str, ...] = PHASES,
) -> tuple[Loaded, Users]:
    """Seed agencies and users, then import the population and insert the task forces
    (only the named ``phases``: the bench's ``--phases``)."""
    engine = make_engine(db.url, pool_size=4)
    factory = make_sessionmaker(engine)
    factory.configure(info={"settings": settings})
    with unit_of_work(factory) as session:
        seed_agencies(session, now=Clock().now())
    users = create_users(factory, settings)
    mx, us = users.principals["bench-admin-mx"], users.principals["bench-admin-us"]
    loaded = Loaded()
    files = manifest.files

    officials = [  # always: every other phase refers to them
        _import(
            factory,
            settings,
            mx,
            "officials",
            data / files.officials["MX"],
            workers,
            loaded,
            "officials MX",
        ),
        _import(
            factory,
            settings,
            us,
            "officials",
            data / files.officials["US"],
            workers,
            loaded,
            "officials US",
        ),
    ]
    seconds = sum(p.seconds for p in officials)
    rows = sum(p.rows for p in officials)
    loaded.officials_per_second = rows / seconds if seconds else 0.0
    cpu = sum(p.cpu_main + p.cpu_workers + p.cpu_postgres for p in officials)
    loaded.officials_cpu_us = 1e6 * cpu / rows if rows else 0.0

    officers = vetting_officers(factory, settings) if "evaluations" in phases else {}
    for country in ("MX", "US") if "evaluations" in phases else ():
        path = data / files.evaluations[country]
        _import_by_body(
            factory, settings, officers, path, workers, loaded, f"evaluations {country}"
        )
    for country, actor in (("MX", mx), ("US", us)) if "separations" in phases else ():
        path = data / files.separations[country]
        _import(
            factory, settings, actor, "separations", path, workers, loaded, f"separations {country}"
        )
    # Task forces come after the own-country records (each batch touching a member re-derives
    # its task force, R19: cheap at registry scale, but the small populations put nearly
    # everyone on one) and before the reciprocal evaluations, which need the membership (R25).
    if "task_forces" in phases or "reciprocal" in phases:
        tf_started = time.perf_counter()
        loaded.task_forces, loaded.members = insert_task_forces(factory, manifest, users)
        # Inserted directly, not by an import job that would analyse them when done: do what
        # autovacuum would (it is off on some machines), so R19's derivations plan for them.
        with factory() as session, session.begin():
            for table in ("task_forces", "task_force_members", "task_force_nominations"):
                session.execute(text(f"ANALYZE {table}"))
        print(
            f"  task forces: {loaded.task_forces} with {loaded.members} members in "
            f"{time.perf_counter() - tf_started:.1f}s",
            flush=True,
        )
    officers = officers or (vetting_officers(factory, settings) if "reciprocal" in phases else {})
    for country in ("MX", "US") if "reciprocal" in phases else ():
        path = data / files.reciprocal[country]
        label = f"reciprocal evaluations by {country}"
        _import_by_body(factory, settings, officers, path, workers, loaded, label)
    if "rehire" in phases:
        path = rehire_file(factory, data, manifest)
        _import(factory, settings, mx, "officials", path, workers, loaded, "officials MX, rehire")
    with factory() as session:
        loaded.officials = int(session.scalar(select(func.count()).select_from(Official)) or 0)
        loaded.listed = int(
            session.scalar(select(func.count(func.distinct(Listing.official_id)))) or 0
        )
    engine.dispose()
    return loaded, users


def insert_task_forces(
    factory: sessionmaker[Session], manifest: Manifest, users: Users
) -> tuple[int, int]:
    """The manifest's task forces, inserted directly (rows of ``task_forces`` and
    ``task_force_members``); the first is the 100-member roster of the compliance benchmark."""
    now = Clock().now()
    creator = users.ids["bench-admin-mx"]
    refs = {m["source_ref"] for tf in manifest.task_forces for m in tf["members"]}
    with unit_of_work(factory) as session:
        ids: dict[str, uuid.UUID] = {}
        ref_list = sorted(refs)
        for start in range(0, len(ref_list), 5000):
            chunk = ref_list[start : start + 5000]
            ids.update(
                {
                    r: i
                    for r, i in session.execute(
                        select(Official.source_ref, Official.id).where(
                            Official.source_ref.in_(chunk)
                        )
                    )
                    if r is not None
                }
            )
        agencies = {
            (c, a): i
            for i, c, a in session.execute(select(Agency.id, Agency.country, Agency.acronym))
        }
        tf_rows: list[dict[str, Any]] = []
        member_rows: list[dict[str, Any]] = []
        for spec in manifest.task_forces:
            tf_id = uuid.uuid4()
            tf_rows.append(
                {
                    "id": tf_id,
                    "name": spec["name"],
                    "focus": spec["focus"],
                    "lead_agency_id": agencies[(spec["lead_country"], spec["lead_agency"])],
                    "max_vetting_age_months": 12,
                    "require_reciprocal": True,
                    "suspend_on": "senior_noncompliance",
                    "recorded_status": "active",
                    "created_by": creator,
                    "created_at": now,
                    "version": 1,
                }
            )
            joined = dt.date.fromisoformat(spec["joined_on"])
            for m in spec["members"]:
                official_id = ids.get(m["source_ref"])
                if official_id is None:
                    continue
                member_rows.append(
                    {
                        "id": uuid.uuid4(),
                        "task_force_id": tf_id,
                        "official_id": official_id,
                        "role": m["role"],
                        "joined_on": joined,
                        "left_on": None,
                        "added_by": creator,
                        "override_id": None,
                        "created_at": now,
                    }
                )
        session.execute(insert(TaskForce), tf_rows)
        session.execute(insert(TaskForceMember), member_rows)
    return len(tf_rows), len(member_rows)


def user_ids(factory: sessionmaker[Session]) -> dict[str, uuid.UUID]:
    with factory() as session:
        return {u.username: u.id for u in session.scalars(select(User))}
