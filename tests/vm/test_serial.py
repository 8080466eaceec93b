"""Marker lines found in a noisy console, and a console file followed while it grows."""

from builder.vm.serial import ConsoleFollower, clean_line, parse_marker, tail


def test_plain_marker():
    marker = parse_marker("appliance-install: OK haproxy 2.8.3-1.ph5\r", "appliance-install")
    assert (marker.status, marker.words) == ("OK", ("haproxy", "2.8.3-1.ph5"))


def test_marker_after_a_carriage_return_and_escapes():
    line = "\x1b[0m\x1b[2K[  OK  ] Started foo.\r\x1b[0mappliance-install: FAILED postinstall exited 1\r"
    marker = parse_marker(line, "appliance-install")
    assert marker.status == "FAILED" and marker.words == ("postinstall", "exited", "1")
    assert marker.line == "appliance-install: FAILED postinstall exited 1"


def test_marker_behind_a_time_stamp_or_journal_prefix():
    assert parse_marker("[   12.345678] appliance-install: OK a 1", "appliance-install").words == ("a", "1")
    assert parse_marker("appliance-agent[312]: appliance-selftest: PASS vip", "appliance-selftest").status == "PASS"


def test_marker_without_words():
    assert parse_marker("appliance-install: DONE", "appliance-install").words == ()


def test_not_markers():
    assert parse_marker("echo 'appliance-install: OK x'", "appliance-install") is None  # a script echoed
    assert parse_marker("+ echo appliance-install: OK $name $version", "appliance-install") is None
    assert parse_marker("xappliance-install: OK a 1", "appliance-install") is None
    assert parse_marker("appliance-install: ok a 1", "appliance-install") is None  # status is upper case
    assert parse_marker("appliance-installer: OK a 1", "appliance-install") is None
    assert parse_marker("", "appliance-install") is None


def test_second_occurrence_when_the_first_is_not_a_marker():
    line = "xappliance-install: OK b 2 appliance-install: OK a 1"
    assert parse_marker(line, "appliance-install").words == ("a", "1")


def test_clean_line_drops_controls():
    assert clean_line("\x1b[2J\x1b[1;1Hhello\x07 world \r") == "hello world"


def test_follower_returns_whole_lines_only(tmp_path):
    console = tmp_path / "console.log"
    follower = ConsoleFollower(console)
    assert follower.new_lines() == []  # qemu has not created it yet
    console.write_bytes(b"one\r\ntw")
    assert follower.new_lines() == ["one\r"]
    with open(console, "ab") as more:
        more.write(b"o\nthree")
    assert follower.new_lines() == ["two"]
    assert follower.rest() == ["three"]
    assert follower.rest() == []


def test_follower_survives_bad_utf8(tmp_path):
    console = tmp_path / "console.log"
    console.write_bytes(b"\xff\xfeok\n")
    assert follower_lines(console) == ["\ufffd\ufffdok"]


def follower_lines(path):
    return ConsoleFollower(path).rest()


def test_tail_of_console(tmp_path):
    console = tmp_path / "console.log"
    console.write_bytes(b"".join(b"line %d\r\n" % n for n in range(30)) + b"\r\n")
    assert tail(console, 3) == ["line 27", "line 28", "line 29"]
    assert tail(tmp_path / "missing.log") == []


def test_marker_behind_ovmfs_screen_escapes():
    # OVMF clears the screen with ECMA-48 private parameters ("=3h") just before Linux starts
    line = "\x1b[2J\x1b[01;01H\x1b[=3h\x1b[2J\x1b[01;01Hvm-test: HELLO one two"
    assert parse_marker(line, "vm-test").words == ("one", "two")


def test_apostrophes_in_a_reason_are_kept():
    line = "appliance-selftest: ENV invalid ha.peer_ip: 203.0.113.9 is outside this node's subnet"
    assert parse_marker(line, "appliance-selftest").words[-2:] == ("node's", "subnet")
