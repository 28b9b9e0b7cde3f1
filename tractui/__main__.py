from tractui.cli import main

raise SystemExit(main())
