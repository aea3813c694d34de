from vending.cli import main

main()
