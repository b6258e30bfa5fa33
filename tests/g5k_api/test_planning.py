"""Planning: slots and searches on hand-built plannings (pure), pictures,
and get_planning on real OAR jobs behind the local API (g5k_api fixture).

The hand-built planning (times in seconds, planning from 1000 to 11000)::

    grenoble/dahu   dahu-1  busy 1000-3000
                    dahu-2  free
                    dahu-3  busy 5000-6000
    grenoble/troll  troll-1 busy 2000-4000
    lyon/nova       nova-1  busy all the time
                    nova-2  free

Slot limits: 1000 2000 3000 4000 5000 6000 (11000 is the end). With a
1500 s walltime a host is free in slot [t, t+1500] when one of its free
periods covers it; counted by hand:

    start  dahu troll grenoble nova lyon grid5000
    1000    2    0      2       1    1     3
    2000    2    0      2       1    1     3
    3000    3    0      3       1    1     4
    4000    2    1      3       1    1     4
    5000    2    1      3       1    1     4
    6000    3    1      4       1    1     5
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest

from procession.g5k import OarSubmission, oarsub, wait_oar_job_start
from procession.g5k.api_utils import get_resource_attributes
from procession.g5k.charter import get_charter_el_planning
from procession.g5k.planning import (
    JOB_END_MARGIN,
    _normalize,
    compute_slots,
    distribute_hosts,
    draw_gantt,
    draw_slots,
    find_first_slot,
    find_free_slot,
    find_max_slot,
    get_jobs_specs,
    get_planning,
    resources_table,
)

FULL = (1000, 11000)


def el(busy: list[tuple[int, int]], free: list[tuple[int, int]]) -> dict[str, Any]:
    return {"busy": busy, "free": free}


def hand_planning() -> dict[str, Any]:
    return {
        "grenoble": {
            "dahu": {
                "dahu-1.grenoble.grid5000.fr": el([(1000, 3000)], [(3000, 11000)]),
                "dahu-2.grenoble.grid5000.fr": el([], [FULL]),
                "dahu-3.grenoble.grid5000.fr": el([(5000, 6000)], [(1000, 5000), (6000, 11000)]),
            },
            "troll": {
                "troll-1.grenoble.grid5000.fr": el([(2000, 4000)], [(1000, 2000), (4000, 11000)]),
            },
        },
        "lyon": {
            "nova": {
                "nova-1.lyon.grid5000.fr": el([FULL], []),
                "nova-2.lyon.grid5000.fr": el([], [FULL]),
            }
        },
    }


EXPECTED = [
    # start, dahu, troll, grenoble, nova, lyon, grid5000
    (1000, 2, 0, 2, 1, 1, 3),
    (2000, 2, 0, 2, 1, 1, 3),
    (3000, 3, 0, 3, 1, 1, 4),
    (4000, 2, 1, 3, 1, 1, 4),
    (5000, 2, 1, 3, 1, 1, 4),
    (6000, 3, 1, 4, 1, 1, 5),
]


def as_slot(row: tuple[int, ...]) -> list[Any]:
    start, dahu, troll, grenoble, nova, lyon, g5k = row
    free = {"grid5000": g5k, "grenoble": grenoble, "dahu": dahu, "troll": troll}
    free |= {"lyon": lyon, "nova": nova}
    return [start, start + 1500, free]


def test_compute_slots_by_hand() -> None:
    planning = hand_planning()
    assert compute_slots(planning, 1500) == [as_slot(row) for row in EXPECTED]
    assert compute_slots(planning, "0:25:00") == compute_slots(planning, 1500)
    assert planning == hand_planning()  # unchanged


def test_compute_slots_excluded_elements_leave_the_planning_alone() -> None:
    planning = hand_planning()
    slots = compute_slots(planning, 1500, excluded_elements=["troll", "nova-1", "lyon"])
    # troll's limits (2000, 4000) are gone with it
    assert [(s[0], s[2]) for s in slots] == [
        (start, {"grid5000": dahu, "grenoble": dahu, "dahu": dahu})
        for start, dahu in [(1000, 2), (3000, 3), (5000, 2), (6000, 3)]
    ]
    assert planning == hand_planning()  # Execo deleted the excluded elements from it


def test_compute_slots_long_walltime() -> None:
    # 6000 s: dahu-2 and nova-2 always fit; dahu-1 (free from 3000) fits from
    # 3000, troll-1 (free from 4000) from 4000, dahu-3 never; a slot starting
    # at 6000 would end after the planning, so nothing fits there.
    slots = compute_slots(hand_planning(), 6000)
    assert [(s[0], s[2]["grid5000"]) for s in slots] == [
        (1000, 2),
        (2000, 2),
        (3000, 3),
        (4000, 4),
        (5000, 4),
        (6000, 0),
    ]


def test_find_first_slot() -> None:
    slots = compute_slots(hand_planning(), 1500)
    assert find_first_slot(slots, {"troll": 0})[0] == 4000
    assert find_first_slot(slots, {"grenoble": 0})[0] == 1000
    assert find_first_slot(slots, {"unknown": 0}) == (None, None, None)


def test_find_max_slot() -> None:
    slots = compute_slots(hand_planning(), 1500)
    assert find_max_slot(slots, {"grid5000": 0})[0] == 6000
    assert find_max_slot(slots, {"dahu": 0})[0] == 3000  # earliest of the ties
    assert find_max_slot(slots, {"dahu": 0, "troll": 0})[0] == 6000
    assert find_max_slot([], {"dahu": 0}) == (None, None, None)


def test_find_free_slot_single_element_is_pure() -> None:
    slots = compute_slots(hand_planning(), 1500)
    assert find_free_slot(slots, {"dahu": 3})[0] == 3000
    assert find_free_slot(slots, {"grid5000": 5})[0] == 6000
    assert find_free_slot(slots, {"troll": 1})[0] == 4000
    assert find_free_slot(slots, {"dahu": 4}) == (None, None, None)
    # grid5000 wants add to the others' (Execo compared them separately)
    assert find_free_slot(slots, {"grid5000": 1, "troll": 1})[0] == 4000
    assert find_free_slot(slots, {"grid5000": 3, "dahu": 3}) == (None, None, None)


def vlan_planning(*, global_: bool) -> dict[str, Any]:
    planning = hand_planning()
    if global_:
        planning["grenoble"]["vlans"] = {"kavlan-11": el([(1000, 5000)], [(5000, 11000)])}
        planning["lyon"]["vlans"] = {"kavlan-12": el([FULL], [])}
    else:
        del planning["lyon"]
        planning["grenoble"]["vlans"] = {
            "kavlan-4": el([(1000, 3000)], [(3000, 11000)]),
            "kavlan-5": el([(1000, 4500)], [(4500, 11000)]),
            "kavlan-11": el([], [FULL]),  # global: not counted in a one-site planning
        }
    return planning


def test_local_kavlans_are_counted() -> None:
    slots = compute_slots(vlan_planning(global_=False), 1500)
    assert [(s[0], s[2]["kavlan"]) for s in slots] == [
        (1000, 0),
        (2000, 0),
        (3000, 1),
        (4000, 1),  # kavlan-5 is busy until 4500
        (4500, 2),
        (5000, 2),
        (6000, 2),
    ]
    assert find_first_slot(slots, {"grenoble": 0, "kavlan": 1})[0] == 3000
    assert find_max_slot(slots, {"troll": 0, "kavlan": 1})[0] == 4000


def test_global_kavlans_list_their_sites() -> None:
    slots = compute_slots(vlan_planning(global_=True), 1500)
    by_start = {s[0]: s[2]["kavlan"] for s in slots}
    assert by_start[1000] == [] and by_start[5000] == ["grenoble"]
    assert find_free_slot(slots, {"grid5000": 2, "kavlan": 1})[0] == 5000


def test_normalize_merges_cuts_and_complements() -> None:
    planning = el([(12000, 13000), (500, 1500), (3000, 3500), (1400, 2000)], [])
    _normalize(planning, 1000, 11000)
    assert planning == el([(1000, 2000), (3000, 3500)], [(2000, 3000), (3500, 11000)])
    empty = el([], [])
    _normalize(empty, 1000, 11000)
    assert empty == el([], [FULL])


# --------------------------------------------------------------------------
# Pictures


def _bars(ax: Any) -> int:
    return len(ax.containers)  # one BarContainer per barh call


def test_draw_gantt_png_and_svg(tmp_path: Path) -> None:
    planning = hand_planning()
    slot = find_max_slot(compute_slots(planning, 1500), {"grid5000": 0})
    png = tmp_path / "gantt.png"
    fig = draw_gantt(planning, outfile=png, slots=[slot])
    grenoble, lyon = fig.axes
    # dahu-1: 2 periods, dahu-2: 1, dahu-3: 3, troll-1: 3; nova-1: 1, nova-2: 1
    assert (_bars(grenoble), _bars(lyon)) == (9, 2)
    # the slot: one more patch per panel
    assert len(grenoble.patches) == 10 and len(lyon.patches) == 3
    assert [t.get_text() for t in grenoble.get_yticklabels()] == [
        "dahu-1",
        "dahu-2",
        "dahu-3",
        "troll-1",
    ]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    assert matplotlib.image.imread(png).shape[:2] == (700, 1200)  # 12x7 in at 100 dpi
    svg = tmp_path / "gantt.svg"
    draw_gantt(planning, outfile=svg)
    import xml.etree.ElementTree as ET

    assert ET.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"


def test_draw_gantt_no_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    draw_gantt(hand_planning(), save=False)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="empty"):
        draw_gantt({}, save=False)


def test_draw_slots(tmp_path: Path) -> None:
    slots = compute_slots(hand_planning(), 1500)
    fig = draw_slots(slots, outfile=tmp_path / "slots.png")
    (ax,) = fig.axes
    assert sorted(line.get_label() for line in ax.get_lines()) == sorted(
        ["dahu", "grenoble", "grid5000", "lyon", "nova", "troll"]
    )
    assert (tmp_path / "slots.png").read_bytes()[:4] == b"\x89PNG"


def test_planning_is_not_shared_between_calls() -> None:
    planning = hand_planning()
    before = copy.deepcopy(planning)
    compute_slots(planning, 100, excluded_elements=["dahu"])
    assert planning == before


# --------------------------------------------------------------------------
# With the API: cluster -> site lookups (reference data only)


AVAILABLE = {"grid5000": 10, "grenoble": 6, "dahu": 4, "troll": 2, "lyon": 4, "nova": 4}


def test_find_free_slot_adds_cluster_wants_to_their_site(g5k_ref_api: Any) -> None:
    slots = compute_slots(hand_planning(), 1500)
    # grenoble needs 1 + 3 (dahu) = 4 free hosts: only at 6000
    assert find_free_slot(slots, {"grenoble": 1, "dahu": 3})[0] == 6000
    assert find_free_slot(slots, {"grenoble": 2, "dahu": 3}) == (None, None, None)
    assert find_free_slot(slots, {"dahu": 2, "nova": 1})[0] == 1000


def test_distribute_hosts(g5k_ref_api: Any) -> None:
    available = dict(AVAILABLE)
    assert distribute_hosts(available, {"dahu": 2, "lyon": 0}) == {"dahu": 2, "lyon": 4}
    assert available == AVAILABLE  # Execo decremented it
    # round-robin over the sites, in name order: grenoble, lyon, grenoble, ...
    assert distribute_hosts(available, {"grid5000": 5}) == {"grenoble": 3, "lyon": 2}
    # all free hosts but troll's
    assert distribute_hosts(available, {"grid5000": 0}, excluded_elements=["troll"]) == {
        "grenoble": 4,
        "lyon": 4,
    }
    # a site's share does not count twice in grid5000's spread
    assert distribute_hosts(available, {"lyon": 3, "grid5000": 3}) == {"lyon": 4, "grenoble": 2}
    assert distribute_hosts(available, {"dahu": 3, "lyon": 0}, ratio=0.5) == {"dahu": 1, "lyon": 2}
    with_vlan = {**AVAILABLE, "kavlan": 2}
    assert distribute_hosts(with_vlan, {"dahu": 1, "kavlan": 1}) == {"dahu": 1, "kavlan": 2}


def test_get_jobs_specs(g5k_ref_api: Any) -> None:
    assert get_jobs_specs({"dahu": 2, "grenoble": 1, "lyon": 3}, name="exp") == [
        (OarSubmission(resources="{cluster='dahu'}/nodes=2+nodes=1", name="exp"), "grenoble"),
        (OarSubmission(resources="nodes=3", name="exp"), "lyon"),
    ]
    [(sub, site)] = get_jobs_specs({"grenoble": 2}, excluded_elements=["troll", "dahu-3"])
    assert site == "grenoble"
    assert sub.resources == (
        "{host not in ('dahu-3.grenoble.grid5000.fr') and cluster not in ('troll')}/nodes=2"
    )
    [(sub, _)] = get_jobs_specs({"dahu": 1, "kavlan": 1})
    assert sub.resources == "{type='kavlan'}/vlan=1+{cluster='dahu'}/nodes=1"
    specs = get_jobs_specs({"grenoble": 1, "lyon": 1, "kavlan": ["lyon"]})
    assert [(s.resources, site) for s, site in specs] == [
        ("nodes=1", "grenoble"),
        ("{type='kavlan-global'}/vlan=1+nodes=1", "lyon"),
    ]
    assert get_jobs_specs({"dahu": 0}) == []


def test_resources_table(g5k_ref_api: Any) -> None:
    text = resources_table({"dahu": 2, "grenoble": 1, "lyon": 3}, "selected")
    assert text.splitlines() == [
        "selected",
        "grenoble        1 dahu: 2",
        "lyon            3",
        "total        2",
    ]


def test_get_planning_rejects_unknown_elements(g5k_ref_api: Any) -> None:
    with pytest.raises(ValueError, match=r"unknown Grid.5000 element.*nowhere"):
        get_planning(["grenoble", "nowhere"])


# --------------------------------------------------------------------------
# get_planning on real OAR jobs
#
# base = the planning's start; reservations (dates relative to base):
#   dahu-1                   600 + 1:00:00 -> busy  600-4265 (job end + 65 s margin)
#   dahu-2, nova-1, nova-2  1800 + 0:30:00 -> busy 1800-3665 (one job: the OAR
#                           testbed admits two waiting reservations per user)
#   dahu-3                  a running besteffort job (ignored by default)
#   nova-3                  free
# Slots of 1:00:00, planning base..base+4h (hand-computed):
#   start  dahu nova grid5000
#      0     1    1    2
#    600     1    1    2
#   1800     1    1    2
#   3665     2    3    5
#   4265     3    3    6

M = JOB_END_MARGIN
SCHEDULE_SLOTS = [(0, 1, 1), (600, 1, 1), (1800, 1, 1), (3665, 2, 3), (4265, 3, 3)]


def reserve(oar: Any, hosts: list[str], start: Any, walltime: str, **kwargs: Any) -> int:
    names = ", ".join(f"'{h}'" for h in hosts)
    sub = OarSubmission(
        resources=f"nodes={len(hosts)}",
        walltime=walltime,
        reservation_date=start,
        sql_properties=f"network_address in ({names})",
        name="planning-test",
        **kwargs,
    )
    [(job_id, _)] = oarsub([(sub, oar.frontend)], abort_on_error=True)
    assert job_id is not None
    return job_id


def dahu(n: int) -> str:
    return f"dahu-{n}.grenoble.grid5000.fr"


def nova(n: int) -> str:
    return f"nova-{n}.lyon.grid5000.fr"


@pytest.fixture
def schedule(g5k_api: Any, oar_testbed: Any) -> dict[str, Any]:
    base = int(time.time()) + 120
    reserve(oar_testbed, [dahu(1)], base + 600, "1:00:00")
    reserve(oar_testbed, [dahu(2), nova(1), nova(2)], base + 1800, "0:30:00")
    besteffort = reserve(oar_testbed, [dahu(3)], None, "2:00:00", job_type="besteffort")
    assert wait_oar_job_start(besteffort, oar_testbed.frontend, timeout=120)
    return {"base": base, "besteffort": besteffort}


@pytest.mark.slow
def test_get_planning_on_real_jobs(schedule: dict[str, Any], tmp_path: Path) -> None:
    base = schedule["base"]
    end = base + 4 * 3600
    planning = get_planning(["grenoble", "nova"], starttime=base, endtime=end)
    assert sorted(planning) == ["grenoble", "lyon"]
    assert sorted(planning["grenoble"]) == ["dahu"]  # troll and yeti have no host in OAR
    rel = {
        host: el["busy"]
        for site in planning.values()
        for hosts in site.values()
        for host, el in hosts.items()
    }
    assert rel == {
        dahu(1): [(base + 600, base + 4200 + M)],
        dahu(2): [(base + 1800, base + 3600 + M)],
        dahu(3): [],
        nova(1): [(base + 1800, base + 3600 + M)],
        nova(2): [(base + 1800, base + 3600 + M)],
        nova(3): [],
    }
    assert planning["grenoble"]["dahu"][dahu(1)]["free"] == [(base, base + 600), (base + 4265, end)]
    slots = compute_slots(planning, "1:00:00")
    assert [(s[0] - base, s[2]["dahu"], s[2]["nova"]) for s in slots] == SCHEDULE_SLOTS
    assert [s[2]["grid5000"] for s in slots] == [d + n for _, d, n in SCHEDULE_SLOTS]
    assert find_free_slot(slots, {"dahu": 2, "nova": 3})[0] == base + 3665
    assert find_free_slot(slots, {"grenoble": 1, "dahu": 1})[0] == base + 3665
    assert find_max_slot(slots, {"grid5000": 0})[0] == base + 4265
    assert find_first_slot(slots, {"nova": 0})[0] == base
    fig = draw_gantt(planning, outfile=tmp_path / "real.svg", slots=[slots[-2]])
    # busy + free periods: dahu-1 1 + 2, dahu-2 1 + 2, dahu-3 0 + 1; the same on nova
    assert [len(ax.containers) for ax in fig.axes] == [7, 7]


@pytest.mark.slow
def test_get_planning_options_on_real_jobs(schedule: dict[str, Any]) -> None:
    base = schedule["base"]
    end = base + 4 * 3600
    # one host only
    planning = get_planning([dahu(2)], starttime=base, endtime=end)
    assert planning == {
        "grenoble": {"dahu": {dahu(2): {"busy": [(base + 1800, base + 3665)],
                                        "free": [(base, base + 1800), (base + 3665, end)]}}}
    }  # fmt: skip
    # the besteffort job counts when asked
    job = get_resource_attributes(f"/sites/grenoble/jobs/{schedule['besteffort']}")
    planning = get_planning(["dahu"], starttime=base, endtime=end, ignore_besteffort=False)
    besteffort_end = job["started_at"] + 7200 + M
    assert planning["grenoble"]["dahu"][dahu(3)]["busy"] == [(base, besteffort_end)]
    # KaVLANs of the reference data (4 to 9 local, 11 global), all free here
    planning = get_planning(["grenoble"], vlan=True, subnet=True, storage=True,
                            starttime=base, endtime=end)  # fmt: skip
    assert list(planning["grenoble"]["vlans"]) == [f"kavlan-{n}" for n in (4, 5, 6, 7, 8, 9, 11)]
    assert planning["grenoble"]["subnets"] == {} and planning["grenoble"]["storage"] == {}
    assert compute_slots(planning, 3600)[0][2]["kavlan"] == 6
    # outside the usage policy's day periods only
    planning = get_planning(["nova"], out_of_chart=True, starttime=base, endtime=end)
    expected = sorted([*get_charter_el_planning(base, end), (base + 1800, base + 3665)])
    merged: list[tuple[int, int]] = []
    for b_start, b_end in expected:
        if merged and b_start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b_end))
        else:
            merged.append((b_start, b_end))
    assert planning["lyon"]["nova"][nova(1)]["busy"] == merged
