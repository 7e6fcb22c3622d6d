"""Running a module's main() in-process from a unit test, as Ansible would on the host."""
import contextlib
import io
import json

import pytest

from ansible.module_utils.testing import patch_module_args


def run_module(module, args, check=False, diff=True):
    """Run ``module.main()`` with ``args``; the parsed result, with ``failed`` set on fail_json."""
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(out.getvalue())
