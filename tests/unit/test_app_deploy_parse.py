"""The deploy runbook's reading of HAProxy's `show stat` (plugins/filter/haproxy_stat.py)."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sovereign.datacenter.plugins.filter.haproxy_stat import (
    haproxy_5xx_ratio, haproxy_server_totals, haproxy_stat)

# HAProxy 2.6 `show stat be_app 4 -1` (servers of one backend), the columns the runbook reads and their neighbours.
HEADER = ("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,"
          "weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,"
          "rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,"
          "hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,")


def row(server, scur=0, status="UP", hrsp_2xx=0, hrsp_5xx=0, req_tot=""):
    values = {"pxname": "be_app", "svname": server, "qcur": 0, "scur": scur, "status": status, "weight": 100,
              "hrsp_1xx": 0, "hrsp_2xx": hrsp_2xx, "hrsp_3xx": 0, "hrsp_4xx": 0, "hrsp_5xx": hrsp_5xx,
              "hrsp_other": 0, "req_tot": req_tot}
    names = HEADER.lstrip("# ").split(",")
    return ",".join(str(values.get(name, "")) for name in names)


def answer(*rows):
    return "\n".join((HEADER,) + rows) + "\n\n"


def test_rows_are_parsed_with_numbers():
    rows = haproxy_stat(answer(row("app1", scur=3, hrsp_5xx=2, req_tot=40), row("app2", status="MAINT")))
    assert [r["svname"] for r in rows] == ["app1", "app2"]
    assert rows[0]["scur"] == 3 and rows[0]["hrsp_5xx"] == 2 and rows[0]["req_tot"] == 40
    assert rows[1]["status"] == "MAINT" and rows[1]["req_tot"] is None


def test_an_error_answer_is_refused():
    for text in ["No such backend.\n", "", "Unknown command\n"]:
        with pytest.raises(AnsibleFilterError):
            haproxy_stat(text)


def test_totals_sum_every_load_balancer():
    lb1 = answer(row("app1", scur=2, hrsp_2xx=90, hrsp_5xx=1, req_tot=91), row("app2", scur=5))
    lb2 = answer(row("app1", scur=1, status="DRAIN", hrsp_2xx=9, req_tot=9))
    totals = haproxy_server_totals([lb1, lb2], "be_app", "app1")
    assert totals["found"] == 2 and totals["status"] == ["UP", "DRAIN"]
    assert (totals["scur"], totals["requests"], totals["hrsp_5xx"]) == (3, 100, 1)


def test_requests_fall_back_to_the_responses_without_req_tot():
    totals = haproxy_server_totals(answer(row("app1", hrsp_2xx=7, hrsp_5xx=3)), "be_app", "app1")
    assert totals["requests"] == 10


def test_unknown_server_is_not_found():
    totals = haproxy_server_totals([answer(row("app1"))], "be_app", "app9")
    assert totals["found"] == 0 and totals["scur"] == 0


def test_5xx_ratio_of_the_window():
    before = {"requests": 100, "hrsp_5xx": 1}
    after = {"requests": 300, "hrsp_5xx": 5}
    assert haproxy_5xx_ratio(before, after) == {"requests": 200, "errors": 4, "ratio": 0.02}


def test_no_traffic_is_ratio_zero():
    assert haproxy_5xx_ratio({"requests": 5, "hrsp_5xx": 0}, {"requests": 5, "hrsp_5xx": 0})["ratio"] == 0.0


def test_a_reset_counter_counts_from_zero():
    result = haproxy_5xx_ratio({"requests": 500, "hrsp_5xx": 10}, {"requests": 50, "hrsp_5xx": 5})
    assert result == {"requests": 50, "errors": 5, "ratio": 0.1}


def test_canary_decision_through_the_filters():
    before = haproxy_server_totals([answer(row("app1", hrsp_2xx=10, req_tot=10))], "be_app", "app1")
    bad = haproxy_server_totals([answer(row("app1", hrsp_2xx=60, hrsp_5xx=50, req_tot=120))], "be_app", "app1")
    assert haproxy_5xx_ratio(before, bad)["ratio"] > 0.01
