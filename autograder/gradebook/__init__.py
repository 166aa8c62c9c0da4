"""The TA's side of a batch after the autograder: written answers graded by hand, the final grade file,
the gradebook export and the record of every batch run (regrades with a diff).

Everything here reads and writes plain files in the batch's output folder ``OUT``:

- ``manual_grades.json``: the points and comments a TA gave per question and student
  (:mod:`~autograder.gradebook.store`); a regrade of the code never touches it;
- ``final.csv`` and ``canvas.csv``: autograded + manual points per student, with the roster
  (:mod:`~autograder.gradebook.final`);
- ``history/``: one record per batch run and, for a regrade, the diff of the grades
  (:mod:`~autograder.gradebook.history`).

``lab3 answers serve OUT`` (:mod:`~autograder.gradebook.server`) is the grading page, one question at a time.
"""
