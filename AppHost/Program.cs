Console.WriteLine("Hangar AppHost: composition under construction.");
