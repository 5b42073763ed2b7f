/* The project's own object lexicon: the 80 COCO categories, each with the words
 * image descriptions use for it. One string per category, in the format of a
 * synonyms file (lexicon.h): the COCO category name first, then its synonyms,
 * separated by ", ". Plural forms are not listed: text and entries are both
 * singularised before they are compared.
 *
 * The list agrees in substance with the one published with CHAIR (Rohrbach et
 * al. 2018), which tests/unit/test_lexicon.c checks. Deliberate differences:
 *  - left out: "bow" under tie (it is also a hair ribbon, a ship's bow and an
 *    archer's bow; "bow tie" still counts as tie), "brindle" under dog (a coat
 *    pattern), and the entries that only exist to catch artefacts or typos of
 *    other software: "knive", "phon", "televison", "solider" ("solider" is also
 *    an English comparative);
 *  - added: a few plain words for the same things that descriptions use
 *    (kitty, necktie, rucksack, racquet, mug, aeroplane, airliner, limousine,
 *    tram, tricycle, hair dryer, dirt bike, scissor, toddler, surfer, ...).
 * Within one category the order is ours: the name, then the words from the
 * most to the least common in descriptions, roughly. */
#include "lexicon.h"

const char *const pv_lexicon_builtin_lines[] = {
    "person, man, woman, boy, girl, child, kid, baby, toddler, infant, adult, teenager, guy, "
    "lady, gentleman, male, female, mother, father, sister, bride, groom, chef, baker, worker, "
    "officer, policeman, cop, soldier, serviceman, doctor, nurse, patient, student, driver, "
    "rider, passenger, traveler, pedestrian, walker, shopper, buyer, customer, vendor, camper, "
    "hunter, farmer, villager, foreigner, politician, player, pitcher, catcher, umpire, athlete, "
    "skier, snowboarder, skater, skateboarder, surfer, biker, bicyclist, cyclist, spectator, "
    "cowboy, waiter, waitress, firefighter, caller, coworker, drinker, offender, thief, "
    "trespasser, grandchild",
    "bicycle, bike, trike, tricycle, unicycle, minibike",
    "car, automobile, sedan, suv, hatchback, coupe, van, minivan, jeep, cab, taxi, taxicab, limo, "
    "limousine",
    "motorcycle, motorbike, motor bike, motor cycle, dirt bike, scooter, moped",
    "airplane, plane, aeroplane, air plane, aircraft, jet, jetliner, airliner, airbus, biplane, "
    "monoplane, seaplane",
    "bus, minibus, trolley",
    "train, locomotive, tram, tramway, caboose",
    "truck, pickup, lorry, firetruck, hauler",
    "boat, ship, sailboat, motorboat, speedboat, powerboat, rowboat, paddleboat, lifeboat, "
    "houseboat, riverboat, steamboat, tugboat, ferryboat, ferry, yacht, canoe, kayak, dinghy, "
    "skiff, catamaran, pontoon, schooner, barge, trawler, freighter, liner, steamship, "
    "battleship, vessel, watercraft, sailboard",
    "traffic light, traffic signal, stop light, stoplight, street light, streetlight",
    "fire hydrant, hydrant",
    "stop sign",
    "parking meter",
    "bench, pew",
    "bird, duck, goose, gosling, swan, gull, seagull, pigeon, sparrow, crow, raven, robin, "
    "bluebird, blackbird, bluejay, finch, warbler, oriole, magpie, chickadee, hummingbird, "
    "woodpecker, kingfisher, parrot, parakeet, macaw, cockatoo, cockatiel, lorikeet, owl, "
    "falcon, osprey, buzzard, vulture, condor, pelican, heron, egret, flamingo, cormorant, "
    "loon, puffin, sandpiper, willet, mallard, waterfowl, waterbird, seabird, shorebird, "
    "songbird, fowl, rooster, turkey, quail, pheasant, peacock, peafowl, ostrich, cowbird",
    "cat, kitten, kitty, tabby, feline",
    "dog, puppy, pup, doggie, doggy, canine, mutt, hound, terrier, retriever, labrador, poodle, "
    "bulldog, pitbull, pug, beagle, collie, sheepdog, spaniel, cocker, chihuahua, dachshund, "
    "schnauzer, rottweiler, doberman, greyhound, whippet, weimaraner, corgi, husky",
    "horse, pony, colt, foal, mare, stallion, racehorse, equine, bronco, bronc, mustang, "
    "palomino, clydesdale",
    "sheep, lamb, ewe, ram, goat",
    "cow, cattle, calf, bull, ox, heifer, holstein, bison, buffalo, zebu",
    "elephant",
    "bear, panda",
    "zebra",
    "giraffe",
    "backpack, knapsack, rucksack",
    "umbrella, parasol",
    "handbag, purse, wallet, briefcase",
    "tie, necktie, bow tie",
    "suitcase, suit case, luggage",
    "frisbee",
    "skis, ski",
    "snowboard",
    "sports ball, ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard, longboard, shortboard, skimboard, wakeboard",
    "tennis racket, racket, racquet",
    "bottle",
    "wine glass",
    "cup, mug",
    "fork",
    "knife, pocketknife",
    "spoon",
    "bowl, container",
    "banana",
    "apple",
    "sandwich, sub, burger, hamburger, cheeseburger",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut, doughnut, bagel",
    "cake, cupcake, cheesecake, shortcake, coffeecake, pancake",
    "chair, seat, stool",
    "couch, sofa, loveseat, settee, futon, recliner, chesterfield",
    "potted plant, houseplant",
    "bed",
    "dining table, table, desk",
    "toilet, urinal, commode, lavatory, potty",
    "tv, television, monitor",
    "laptop, laptop computer, computer, notebook, netbook, macbook, lenovo",
    "mouse",
    "remote",
    "keyboard",
    "cell phone, cellphone, mobile phone, phone, telephone, smartphone, iphone",
    "microwave",
    "oven, stove, stovetop, stove top oven",
    "toaster",
    "sink",
    "refrigerator, fridge, freezer",
    "book",
    "clock",
    "vase",
    "scissors, scissor",
    "teddy bear, teddybear",
    "hair drier, hair dryer, hairdryer, blow dryer",
    "toothbrush",
    NULL,
};
