# backtrace.py: run inside gdb (attached with -p) by package gdboracle.
# Prints one JSON object per line, each prefixed with "TAIJI-GDB ", for every
# thread and frame, exactly as gdb's unwinder reports them.
import json

import gdb

TYPES = {
    gdb.NORMAL_FRAME: "normal",
    gdb.DUMMY_FRAME: "dummy",
    gdb.INLINE_FRAME: "inline",
    gdb.TAILCALL_FRAME: "tailcall",
    gdb.SIGTRAMP_FRAME: "sigtramp",
    gdb.ARCH_FRAME: "arch",
    gdb.SENTINEL_FRAME: "sentinel",
}

try:
    MAX_FRAMES = int(taiji_max_frames)  # noqa: F821 (set with -ex python)
except NameError:
    MAX_FRAMES = 2000


def emit(obj):
    print("TAIJI-GDB " + json.dumps(obj), flush=True)


def module_of(pc):
    # solib_name is None for the main executable (and for addresses outside
    # any module, e.g. junk frames), which then get the program's name.
    name = gdb.current_progspace().solib_name(pc)
    if name:
        return name
    return gdb.current_progspace().filename or ""


def frame_record(f):
    rec = {"pc": 0, "sp": None, "type": "?", "func": "??", "file": "", "line": 0}
    try:
        rec["pc"] = int(f.pc())
    except gdb.error as e:
        rec["error"] = str(e)
        return rec
    try:
        rec["type"] = TYPES.get(f.type(), str(f.type()))
    except gdb.error:
        pass
    try:
        rec["func"] = f.name() or "??"
    except gdb.error:
        pass
    try:
        sp = f.read_register("sp")
        if not sp.is_optimized_out:
            rec["sp"] = int(sp) & 0xFFFFFFFFFFFFFFFF
    except (gdb.error, ValueError):
        pass
    try:
        sal = f.find_sal()
        if sal.symtab is not None:
            rec["file"] = sal.symtab.filename
            rec["line"] = sal.line
    except gdb.error:
        pass
    try:
        rec["module"] = module_of(rec["pc"])
    except gdb.error:
        pass
    return rec


def walk(thread):
    thread.switch()
    frames = []
    reason = ""
    f = gdb.newest_frame()
    last = None
    while f is not None and len(frames) < MAX_FRAMES:
        frames.append(frame_record(f))
        last = f
        try:
            f = f.older()
        except gdb.error as e:
            reason = "error: " + str(e)
            f = None
            break
    if f is not None:
        reason = "frame limit"
    elif not reason and last is not None:
        reason = gdb.frame_stop_reason_string(last.unwind_stop_reason())
    return frames, reason


def main():
    inferior = gdb.selected_inferior()
    threads = sorted(inferior.threads(), key=lambda t: t.ptid[1])
    for th in threads:
        tid = th.ptid[1]
        try:
            frames, reason = walk(th)
        except gdb.error as e:
            frames, reason = [], "error: " + str(e)
        emit({"tid": tid, "name": th.name or "", "frames": frames, "stop": reason})
    emit({"done": len(threads)})


main()
