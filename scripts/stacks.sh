# The stacks dovecote is tested on; sourced by scripts/test.sh and .ci/run.
#
# One line per stack: name, Python version, Django requirement, and the
# Django requirements that only the plain-install smoke test also tries
# there ("-" for none; separate several with ";").
DOVECOTE_STACKS=(
    "py311-dj52 3.11 Django>=5.2,<5.3 -"
    "py312-dj60 3.12 Django>=6.0,<6.1 Django>=5.2,<5.3"
    "py313-dj61 3.13 Django>=6.1,<6.2 -"
)

# Print the interpreter of Python $1 (e.g. 3.12): pyenv's build under
# ~/.pyenv/versions/ (the binary, not the shim, which refuses a version
# that is not selected), else pythonX.Y on PATH. Fail if there is none.
stack_python() {
    local version=$1 found
    found=$(ls -d "$HOME"/.pyenv/versions/"$version".*/bin/python"$version" 2>/dev/null |
        sort -V | tail -1)
    if [ -n "$found" ] && "$found" -c pass 2>/dev/null; then
        echo "$found"
        return 0
    fi
    found=$(command -v "python$version" || true)
    if [ -n "$found" ] && "$found" -c pass 2>/dev/null; then
        echo "$found"
        return 0
    fi
    echo "Python $version not found (looked in ~/.pyenv/versions/$version.*/bin" \
         "and for python$version on PATH)." >&2
    return 1
}
