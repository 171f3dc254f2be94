from msgctl.cli.main import main

main()
