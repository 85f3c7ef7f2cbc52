"""``singanseg classroom student OUT``: solution-free copies of the notebook series."""
from __future__ import annotations

from singanseg_lib.kit.classroom import write_student_copies


def register(sub) -> None:
    p = sub.add_parser("classroom", help="copies of the notebooks for students",
                       description="Teaching with the series (TEACHING.md): student copies without solutions.")
    cmds = p.add_subparsers(dest="classroom_command", metavar="ACTION", required=True)
    st = cmds.add_parser("student", help="write the series without solutions into OUT",
                         description="Every notebook with each exercise's solution replaced by a stub that raises "
                                     "NotImplementedError and each prediction's answer removed; check cells kept. "
                                     "The copies run to the end under papermill, only exercise and check cells failing.")
    st.add_argument("out", help="folder for the student copies")
    st.add_argument("--notebooks", default=None, help="the teacher's notebooks (default: the kit's notebooks/)")
    st.add_argument("--overwrite", action="store_true", help="replace copies already in OUT")
    st.set_defaults(func=_student)


def _student(args) -> int:
    written = write_student_copies(args.notebooks, args.out, overwrite=args.overwrite)
    print(f"wrote {len(written)} student notebooks to {args.out}: hand them out; run them with "
          f"`singanseg run --notebooks {args.out}`")
    return 0
