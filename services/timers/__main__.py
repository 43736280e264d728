from services.timers.main import main

main()
