"""Tasks: what Celery tasks do, per queue and task.

Should-be-zero stats (failed, rejected, unknown... per the queues' settings),
state rates, success and failure volumes, failure ratio, runtime and wait
time, and the slowest and most failing tasks.
"""

from queuedash.authoring import health, variables
from queuedash.authoring.dashboard import dashboard, description
from queuedash.authoring.layout import Row
from queuedash.naming.metrics import TASK_STATES
from queuedash.authoring.panels import Presets
from queuedash.authoring.queries import TaskQueries, call, quote
from queuedash.settings import ZERO_TASK_STATES


def build(settings):
    presets = Presets(settings)
    tasks = TaskQueries(settings.naming)
    n = settings.naming
    percentile = n.timer_percentile

    rows = [
        # Not filtered by $queue and $task: a failure on a watched queue stays red whatever is selected.
        Row("Should be zero: every watched queue, whatever the selection",
            health.for_queues(presets, settings, settings.queues, ZERO_TASK_STATES)
            + health.extra(presets, settings, "tasks")),
        Row("Activity", [
            presets.rate("Task states per second", [tasks.rates_by_state(TASK_STATES)], size=(24, 8),
                         description="Rate of each task state, summed over the selected queues and tasks."),
            presets.stat("Succeeded", [call("alias", tasks.total_count(["succeeded"]), quote("succeeded"))],
                         reduce="sum", graph=True, no_value="0",
                         description="Tasks that succeeded in the time range."),
            presets.should_be_zero("Failed in $queue ($task)",
                                   [call("alias", tasks.total_count(["failed"]), quote("failed"))], graph=True,
                                   description="Tasks that failed in the time range, in the queues and tasks "
                                               "selected above. The \"Should be zero\" row counts every queue "
                                               "that must keep failures at zero, whatever the selection."),
            presets.count("Succeeded and failed per interval", [
                call("alias", tasks.total_count(["succeeded"]), quote("succeeded")),
                call("alias", tasks.total_count(["failed"]), quote("failed")),
            ], size=(16, 8), stack=True),
            presets.percent("Failure ratio", [call("alias", tasks.failure_ratio(), quote("failed %"))],
                            description="Failed as a share of failed + succeeded, per flush interval."),
        ]),
        Row("Durations", [
            presets.duration("Runtime", [
                call("alias", call("averageSeries", tasks.timer("runtime", "mean")), quote("mean")),
                call("alias", call("maxSeries", tasks.timer("runtime", n.percentile_stat)), quote(f"p{percentile}")),
                call("alias", call("maxSeries", tasks.timer("runtime", "upper")), quote("max")),
            ], description="Time a task runs, from the worker's pool picking it up to its result."),
            presets.duration("Wait time", [
                call("alias", call("averageSeries", tasks.timer("wait", "mean")), quote("mean")),
                call("alias", call("maxSeries", tasks.timer("wait", n.percentile_stat)), quote(f"p{percentile}")),
                call("alias", call("maxSeries", tasks.timer("wait", "upper")), quote("max")),
            ], description="Time from a task being sent to it starting on a worker."),
        ]),
        Row("Worst tasks", [
            presets.table("Slowest tasks", [
                call("highestAverage", tasks.timer_per_task("runtime", n.percentile_stat), 10),
            ], unit="ms", reducers=("mean", "max"),
                description=f"The 10 tasks with the highest p{percentile} runtime."),
            presets.table("Most failing tasks", [
                call("highestAverage", tasks.per_task("failed"), 10),
            ], reducers=("sum", "max"),
                description="The 10 tasks with the most failures in the time range."),
        ]),
    ]
    return dashboard(
        settings,
        name="tasks",
        title="Celery tasks",
        rows=rows,
        variables=[variables.queue(settings), variables.task(settings)],
        description=description(settings, "Task states, volumes, failures and durations per queue and task.",
                                "dashboards/tasks.py"),
    )
