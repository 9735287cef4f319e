"""The `queuedash` command: the only subpackage that prints.

    main.py    the click group, error handling, `main()`
    app.py     what the group hands its commands: the settings, loaded once
    build.py   build, list, validate
    check.py   check, discover (against Graphite)
    deploy.py  deploy, diff (through Grafana's HTTP API)
    agent.py   agent events, agent poll
    output.py  every byte a command prints, through one redactor

Every `QueuedashError` becomes one line on stderr and exit status 1 (2 for
`check` and `diff` when they could not check); Ctrl-C is 130 (README, "Exit
statuses").
"""
