# nbgrader_config.py for a JupyterHub course that releases Lab 3 with nbgrader (copy it into the course folder).
# Scores of the seven modules come from the Lab 3 autograder (Gradescope / otter / lab3 grade); nbgrader's
# formgrader serves the written questions, which carry manual-grading metadata (points, grade_id).
c = get_config()  # noqa: F821

# the master notebook marks solutions with nbgrader's markers; `lab3 build` gives the same cells
c.ClearSolutions.enforce_metadata = False
c.ClearHiddenTests.enforce_metadata = False
c.ClearSolutions.text_stub = "*Your answer here.*"

# autograde copies the instructor's files into each submission: never over the student's modules
c.Autograde.exclude_overwriting = {
    "lab3": [
        "lab3/attention.py",
        "lab3/positional.py",
        "lab3/transformer.py",
        "lab3/vit.py",
        "lab3/transfer.py",
        "lab3/training.py",
        "lab3/optim.py",
    ],
}
