from tools.idl.gen import main

raise SystemExit(main())
